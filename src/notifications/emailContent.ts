import { emailHtml } from './emailHtml.js';
import { emailModel, type EmailInput } from './emailModel.js';
import { emailText } from './emailText.js';

/**
 * The requester's emails: one subject and two bodies (HTML and plain text)
 * per event, both rendered from one content model. Pure: the caller reads the
 * job, its steps and its last log lines and passes them in.
 */

export { emailSubject, MAX_LOG_LINES, type EmailInput, type EmailLogLine } from './emailModel.js';

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
}

export function renderEmail(input: EmailInput): RenderedEmail {
  const model = emailModel(input);
  return { subject: model.subject, html: emailHtml(model), text: emailText(model) };
}
