import type { PlanSummary } from './terraformCommands.js';

/**
 * A re-plan after a partial apply may only contain changes the approved plan
 * had: anything else needs a new approval, so it is refused, never applied.
 */
export function replanBeyondApproval(approved: PlanSummary, replan: PlanSummary): string | null {
  const allowed = new Set(approved.resources.map((r) => `${r.address}:${r.actions.join('+')}`));
  const extra = replan.resources.filter(
    (r) => !r.actions.every((a) => a === 'no-op' || a === 'read') && !allowed.has(`${r.address}:${r.actions.join('+')}`),
  );
  if (!extra.length) return null;
  return (
    'the plan changed since it was approved (' +
    extra.map((r) => `${r.actions.join('+')} ${r.address}`).join(', ') +
    '); start a new job to approve the new plan'
  );
}
