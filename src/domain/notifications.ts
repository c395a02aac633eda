/** The events a requester is emailed about; one email per job and event, ever. */
export const NOTIFICATION_EVENTS = [
  'succeeded',
  'failed',
  'cancelled',
  'rejected',
  'destroyed',
  'destroy_failed',
  'approval_needed',
  'ttl_warning_24h',
  'ttl_warning_1h',
] as const;
export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];
