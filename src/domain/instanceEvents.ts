/**
 * What the instance says about itself. The first-boot script (userDataScript.ts)
 * prints one line per phase on the serial console and in
 * /var/log/provisioning.log, with a fixed prefix and a small JSON payload:
 *
 *   PROVISIONING-EVENT job=<jobId> {"phase":"pull","container":"web","image":"nginx:1","status":"ok","digest":"…"}
 *   PROVISIONING-SUCCESS job=<jobId> {"containers":"2"}
 *   PROVISIONING-FAILED job=<jobId> {"phase":"container","container":"web","image":"…","reason":"…","output":"…"}
 *
 * The console may prefix a line (cloud-init's `cloud-init[1234]: `, a
 * timestamp) and show it twice (the script writes both to its output and to
 * /dev/console), so a line is found anywhere in a console line and an event is
 * known by its text. Every value is a string, cut short by the script.
 */

export const EVENT_PREFIX = 'PROVISIONING-EVENT';
export const SUCCESS_PREFIX = 'PROVISIONING-SUCCESS';
export const FAILURE_PREFIX = 'PROVISIONING-FAILED';

/** The phases of the first boot, in order. */
export const INSTANCE_PHASES = [
  'start',
  'docker',
  'compose',
  'files',
  'artifacts',
  'pull',
  'up',
  'container',
  'health',
  'done',
] as const;
export type InstancePhase = (typeof INSTANCE_PHASES)[number];

export type InstanceEventKind = 'event' | 'success' | 'failure';

export interface InstanceEvent {
  kind: InstanceEventKind;
  /** The payload, every value a string (unknown or malformed payloads are an empty object). */
  fields: Record<string, string>;
  /** The event's own text from the prefix on: what identifies it among repeats. */
  key: string;
}

const KIND_OF: Record<string, InstanceEventKind> = {
  [EVENT_PREFIX]: 'event',
  [SUCCESS_PREFIX]: 'success',
  [FAILURE_PREFIX]: 'failure',
};

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** A parser for one job's lines: another job's id (an instance reused, a copied console) is ignored. */
export function instanceLineParser(jobId: string): (line: string) => InstanceEvent | null {
  const re = new RegExp(`(PROVISIONING-(?:EVENT|SUCCESS|FAILED)) job=${escapeRegExp(jobId)}(?:\\s+(\\{.*\\}))?\\s*$`);
  return (line) => {
    const m = re.exec(line);
    if (!m) return null;
    const fields: Record<string, string> = {};
    if (m[2]) {
      try {
        const parsed = JSON.parse(m[2]) as Record<string, unknown>;
        for (const [k, v] of Object.entries(parsed ?? {})) if (typeof v === 'string') fields[k] = v;
      } catch {
        // A line cut short on the console: the kind still counts.
      }
    }
    return { kind: KIND_OF[m[1]], fields, key: m[0] };
  };
}

export interface ContainerProgress {
  name: string;
  image?: string;
  /** pulled | running | healthy | exited | unhealthy | pull failed… as the instance last reported it. */
  state: string;
  detail?: string;
}

export interface InstanceProgress {
  /** The last phase the instance reported. */
  phase: InstancePhase | string | null;
  containers: ContainerProgress[];
  /** The instance's own verdict, once it gave one. */
  outcome: 'succeeded' | 'failed' | null;
  failure?: { phase: string; container?: string; image?: string; reason: string; output: string[] };
  /** Docker's version and the like: facts worth showing. */
  facts: Record<string, string>;
}

export function emptyProgress(): InstanceProgress {
  return { phase: null, containers: [], outcome: null, facts: {} };
}

/** Folds one event into the progress (events arrive in the order the instance printed them). */
export function applyInstanceEvent(progress: InstanceProgress, event: InstanceEvent): InstanceProgress {
  const f = event.fields;
  const next: InstanceProgress = { ...progress, containers: [...progress.containers], facts: { ...progress.facts } };
  if (f.phase) next.phase = f.phase;
  if (event.kind === 'success') {
    next.phase = 'done';
    next.outcome = 'succeeded';
    return next;
  }
  if (event.kind === 'failure') {
    next.outcome = 'failed';
    next.failure = {
      phase: f.phase || String(progress.phase ?? 'start'),
      container: f.container || undefined,
      image: f.image || undefined,
      reason: f.reason || 'the first-boot script failed',
      output: (f.output ?? '').split('\n').filter((l) => l.trim() !== ''),
    };
    if (f.container) {
      // What the instance reported of the container just before (restarting, unhealthy) says more.
      const before = progress.containers.find((c) => c.name === f.container)?.state;
      const state = before && !['running', 'pulled', 'healthy'].includes(before) ? before : failedState(f.phase);
      upsert(next, f.container, f.image, state, f.reason);
    }
    return next;
  }
  if (f.phase === 'docker' && f.version) next.facts.docker = f.version;
  if (f.phase === 'compose' && f.version) next.facts.compose = f.version;
  if (f.container) {
    const state =
      f.phase === 'pull' ? (f.status === 'ok' ? 'pulled' : 'pull failed') : (f.health ?? f.state ?? f.status ?? 'unknown');
    upsert(next, f.container, f.image, state, f.digest ?? f.error ?? f.exit);
  }
  return next;
}

function failedState(phase: string | undefined): string {
  if (phase === 'pull') return 'pull failed';
  if (phase === 'health') return 'unhealthy';
  if (phase === 'container') return 'exited';
  return 'failed';
}

function upsert(progress: InstanceProgress, name: string, image: string | undefined, state: string, detail?: string) {
  const i = progress.containers.findIndex((c) => c.name === name);
  const before = i >= 0 ? progress.containers[i] : undefined;
  const entry: ContainerProgress = { name, image: image || before?.image, state, ...(detail ? { detail } : {}) };
  if (i >= 0) progress.containers[i] = entry;
  else progress.containers.push(entry);
}

/** The progress a list of console (or log) lines tells, each event counted once. */
export function progressOf(jobId: string, lines: Iterable<string>): InstanceProgress {
  const parse = instanceLineParser(jobId);
  const seen = new Set<string>();
  let progress = emptyProgress();
  for (const line of lines) {
    const event = parse(line);
    if (!event || seen.has(event.key)) continue;
    seen.add(event.key);
    progress = applyInstanceEvent(progress, event);
  }
  return progress;
}

/** One sentence for a job's error and its failure email: the phase, the container and image, the reason, the output. */
export function describeInstanceFailure(failure: NonNullable<InstanceProgress['failure']>): string {
  const who = failure.container
    ? ` (container ${failure.container}${failure.image ? `, image ${failure.image}` : ''})`
    : failure.image
      ? ` (image ${failure.image})`
      : '';
  const output = failure.output.length ? `; last output: ${failure.output.slice(-5).join(' | ')}` : '';
  return `the instance reported a failure at phase ${failure.phase}${who}: ${failure.reason}${output}`;
}

/** "1 container running", "3 containers running": the instance's report as the job's log says it. */
export function containersRunning(count: number): string {
  return `${count} container${count === 1 ? '' : 's'} running`;
}
