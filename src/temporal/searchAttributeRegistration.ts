import { setTimeout as sleep } from 'node:timers/promises';
import proto from '@temporalio/proto';
import { SERVICE_SEARCH_ATTRIBUTES } from '../workflows/searchAttributes.js';
import { untilDone } from './untilDone.js';

/**
 * The service's search attributes must exist in the namespace before any of
 * its workflows starts or upserts: a start that names an unknown attribute is
 * refused, and an upsert of one fails the workflow task again and again (the
 * job stalls). Two ways they get there:
 *
 * - a dev server (`npm start`, the tests) is started with
 *   `--search-attribute Name=Keyword` for each (devServerSearchAttributeArgs);
 *   it registers them only when it creates its database, so a
 *   `./data/temporal.db` from an earlier version gets them the second way;
 * - every worker, before it polls, and every web process, before it starts
 *   jobs, ensures them through the operator service (ensureSearchAttributes):
 *   idempotent, refusing a type conflict.
 */

const { IndexedValueType } = proto.temporal.api.enums.v1;
type IndexedValueType = proto.temporal.api.enums.v1.IndexedValueType;

/** Type names as Temporal's CLI spells them, by the wire's enum. */
const TYPE_NAMES: Record<string, string> = {
  KEYWORD: 'Keyword',
  TEXT: 'Text',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

/** The attributes the service needs: name → type (`Keyword`…). */
export type WantedAttributes = Record<string, string>;

export const SERVICE_ATTRIBUTES: WantedAttributes = Object.fromEntries(
  SERVICE_SEARCH_ATTRIBUTES.map((k) => [k.name, TYPE_NAMES[k.type]!]),
);

/** `temporal server start-dev` flags that register the attributes when the server creates its database. */
export function devServerSearchAttributeArgs(wanted: WantedAttributes = SERVICE_ATTRIBUTES): string[] {
  return Object.entries(wanted).flatMap(([name, type]) => ['--search-attribute', `${name}=${type}`]);
}

function typeName(t: IndexedValueType | null | undefined): string {
  const key = IndexedValueType[t ?? 0]?.replace(/^INDEXED_VALUE_TYPE_/, '') ?? String(t);
  return TYPE_NAMES[key] ?? key;
}

function typeValue(name: string): IndexedValueType {
  const key = Object.entries(TYPE_NAMES).find(([, n]) => n === name)?.[0];
  if (!key) throw new Error(`unknown search attribute type ${name}`);
  return IndexedValueType[`INDEXED_VALUE_TYPE_${key}` as keyof typeof IndexedValueType] as IndexedValueType;
}

/** What ensureSearchAttributes needs of a connection: the client's Connection and the worker's NativeConnection both have it. */
export interface SearchAttributeServices {
  operatorService: {
    listSearchAttributes(req: { namespace: string }): Promise<{ customAttributes?: Record<string, IndexedValueType> | null }>;
    addSearchAttributes(req: { namespace: string; searchAttributes: Record<string, IndexedValueType> }): Promise<unknown>;
  };
  workflowService: {
    listWorkflowExecutions(req: { namespace: string; pageSize: number; query: string }): Promise<unknown>;
  };
}

export interface RegistrationLog {
  info(msg: string): void;
  warn(msg: string): void;
}

export class SearchAttributeError extends Error {
  override name = 'SearchAttributeError';
}

/** gRPC codes: the server does not offer the call, or this caller may not make it. */
const REFUSED_CODES = new Set([7 /* PERMISSION_DENIED */, 12 /* UNIMPLEMENTED */, 16 /* UNAUTHENTICATED */]);
const refused = (err: unknown) => REFUSED_CODES.has((err as { code?: number })?.code ?? -1);
const why = (err: unknown) => (err as Error)?.message ?? String(err);

function conflicts(listed: Record<string, IndexedValueType>, wanted: WantedAttributes): string[] {
  return Object.entries(wanted)
    .filter(([name, type]) => name in listed && typeName(listed[name]) !== type)
    .map(([name, type]) => `${name} is ${typeName(listed[name])} there, the service needs ${type}`);
}

function conflictError(namespace: string, found: string[]): SearchAttributeError {
  return new SearchAttributeError(
    `search attributes of namespace ${namespace} conflict with the service's: ${found.join('; ')}. ` +
      'A search attribute cannot change its type: remove it (temporal operator search-attribute remove) or use another namespace.',
  );
}

function howToAdd(namespace: string, names: string[], wanted: WantedAttributes): string {
  const flags = names.map((n) => `--name ${n} --type ${wanted[n]}`).join(' ');
  return (
    `add them with \`temporal operator search-attribute create --namespace ${namespace} ${flags}\`` +
    ` (Temporal Cloud: \`tcld namespace search-attributes add\` or the Cloud UI, each as ${[...new Set(names.map((n) => wanted[n]))].join('/')})`
  );
}

/**
 * Makes sure `wanted` exist in `namespace` with their types; adds what is
 * missing. Called twice, the second call adds nothing. A type conflict is an
 * error (SQL visibility answers an add of an existing name with another type
 * with success and keeps the old type, so the list decides). Where the
 * operator API refuses (Temporal Cloud with a namespace API key may not
 * manage search attributes), a query that names each attribute tells whether
 * it exists: all there, a warning and on; any missing, an error naming them.
 * Temporal's time-skipping test server adds but cannot list: its add is taken
 * at its word.
 */
export async function ensureSearchAttributes(
  services: SearchAttributeServices,
  namespace: string,
  opts: { wanted?: WantedAttributes; log?: RegistrationLog } = {},
): Promise<{ added: string[] }> {
  const wanted = opts.wanted ?? SERVICE_ATTRIBUTES;
  const list = async (): Promise<Record<string, IndexedValueType> | null> => {
    try {
      return (await services.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
    } catch (err) {
      if (refused(err)) return null;
      throw err;
    }
  };
  const listed = await list();
  if (listed) {
    const found = conflicts(listed, wanted);
    if (found.length) throw conflictError(namespace, found);
  }
  const missing = Object.keys(wanted).filter((name) => !listed || !(name in listed));
  if (missing.length === 0) return { added: [] };
  try {
    await services.operatorService.addSearchAttributes({
      namespace,
      searchAttributes: Object.fromEntries(missing.map((name) => [name, typeValue(wanted[name]!)])),
    });
  } catch (err) {
    if (!refused(err)) throw err;
    const absent = await notQueryable(services, namespace, missing);
    if (absent.length) {
      throw new SearchAttributeError(
        `the service's search attributes ${absent.join(', ')} are missing in namespace ${namespace}, and Temporal ` +
          `refused to register them (${why(err)}): ${howToAdd(namespace, absent, wanted)}, then start again`,
      );
    }
    opts.log?.warn(
      `could not register search attributes through the operator service (${why(err)}); ` +
        `${missing.join(', ')} exist in namespace ${namespace}: going on`,
    );
    return { added: [] };
  }
  if (!listed) {
    opts.log?.info(`search attributes ${missing.join(', ')} registered in namespace ${namespace} (not listable there)`);
    return { added: missing };
  }
  // Read back: a conflicting add "succeeds" on SQL visibility, and a new attribute may take a moment to show.
  for (let attempt = 0; ; attempt++) {
    const now = (await list()) ?? {};
    const found = conflicts(now, wanted);
    if (found.length) throw conflictError(namespace, found);
    const still = missing.filter((name) => !(name in now));
    if (still.length === 0) break;
    if (attempt >= 20) {
      throw new SearchAttributeError(
        `search attributes ${still.join(', ')} did not appear in namespace ${namespace} after being added`,
      );
    }
    await sleep(250);
  }
  opts.log?.info(`search attributes ${missing.join(', ')} registered in namespace ${namespace}`);
  return { added: missing };
}

/** The attributes a visibility query cannot name: those that do not exist in the namespace. */
async function notQueryable(services: SearchAttributeServices, namespace: string, names: string[]): Promise<string[]> {
  const absent: string[] = [];
  for (const name of names) {
    try {
      await services.workflowService.listWorkflowExecutions({ namespace, pageSize: 1, query: `${name} = "-"` });
    } catch (err) {
      // INVALID_ARGUMENT: "… is not a valid search attribute"; anything else is not an answer about it.
      if ((err as { code?: number })?.code === 3) absent.push(name);
      else throw err;
    }
  }
  return absent;
}

/**
 * The web's registration: in the background, since Temporal may not answer
 * yet when the web starts (tried again, a minute apart at most, until done).
 * A conflict or a refusal is logged as an error once: job starts then fail
 * with Temporal's own message until an operator acts.
 */
export function registerInBackground(
  services: SearchAttributeServices,
  namespace: string,
  log: RegistrationLog & { error(msg: string): void },
): { stop(): void } {
  return untilDone(() => ensureSearchAttributes(services, namespace, { log }).then(() => undefined), {
    giveUp: (err) => {
      if (!(err instanceof SearchAttributeError)) return false;
      log.error(err.message);
      return true;
    },
    retrying: (err) => log.warn(`could not check the search attributes yet (${why(err)}); trying again`),
  });
}
