import type { Config } from '../config.js';
import type { LinkSettings } from '../domain/jobView.js';

/** Where the job presentation model points its links (job page, API, Temporal UI) on this deployment. */
export function linkSettings(config: Config): LinkSettings {
  return { publicBaseUrl: config.publicBaseUrl, temporalUiUrl: config.temporalUiUrl, namespace: config.TEMPORAL_NAMESPACE };
}
