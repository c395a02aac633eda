import type { Flash } from '../flash.js';

/** What the last action did, from the flash cookie: a status, or an alert when it failed. */
export function FlashMessage(props: { flash?: Flash }) {
  const { flash } = props;
  if (!flash) return null;
  return (
    <p class={flash.kind === 'error' ? 'flash flash-error' : 'flash'} role={flash.kind === 'error' ? 'alert' : 'status'}>
      {flash.message}
    </p>
  );
}
