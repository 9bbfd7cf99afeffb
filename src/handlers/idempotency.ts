// Idempotency-Key on the wire: the key header's two spellings, the request fingerprint, and
// responses recorded for replay. The at-most-once machinery itself is the idempotency service.
import { hash } from 'node:crypto';
import type { Caller } from '../services/accounts/index.ts';
import { currentCall, withCall } from '../services/call-context.ts';
import type { IdempotencyService, RecordedResponse } from '../services/idempotency/index.ts';
import type { UnitOfWork } from '../services/unit-of-work.ts';
import { V1_PREFIX } from './versions.ts';

export interface KeyedCall {
  operationId: string;
  /** The prefix of the API version the call came through: `/v1`, `/v2`. */
  api: string;
  caller: Caller | null;
  /** The key, as `idempotencyKey()` read it from the header. */
  key: string;
  method: string;
  /** The request's path parameters, query and body, as validated. */
  params: unknown;
  query: unknown;
  body: unknown;
}

/**
 * Runs `respond` at most once per key; `replayed` says the response is a stored one, sent again
 * byte for byte. `respond` receives the unit of work the key's record is saved in, and hands it
 * to the operation's handler, whose writes join it. Responses with a 5xx status are not kept:
 * what `respond` wrote is rolled back and the key stays free.
 */
export type RunIdempotently = (
  call: KeyedCall,
  respond: (unitOfWork: UnitOfWork) => Promise<RecordedResponse>,
) => Promise<{ response: RecordedResponse; replayed: boolean }>;

export const ANONYMOUS_SCOPE = 'anonymous';

/**
 * The key an Idempotency-Key header carries: the header itself when bare, the string inside
 * when it is a structured-field string (`"abc"` and `abc` are the same key). The spec's pattern
 * has already refused anything else.
 */
export function idempotencyKey(header: string): string {
  if (!header.startsWith('"')) return header;
  return header.slice(1, -1).replace(/\\(["\\])/g, '$1');
}

/**
 * JSON with object keys sorted at every depth, so equal requests serialize equally: keys in the
 * order of their UTF-16 code units (`sort()`'s own), members whose value is undefined left out,
 * undefined in an array written as null. Written into one string as it goes: through
 * `Object.entries`, `filter`, `sort` and `map`, every keyed request's fingerprint made an array
 * per member and per step (about 3.5 KB a message in `npm run bench -- --alloc`).
 */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return 'null';
  if (value === null || typeof value !== 'object') return JSON.stringify(value);
  if (Array.isArray(value)) {
    let text = '[';
    for (let i = 0; i < value.length; i++) text += (i === 0 ? '' : ',') + canonicalJson(value[i]);
    return `${text}]`;
  }
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object).sort();
  let text = '{';
  for (const key of keys) {
    const member = object[key];
    if (member === undefined) continue;
    text += (text.length === 1 ? '' : ',') + JSON.stringify(key) + ':' + canonicalJson(member);
  }
  return `${text}}`;
}

/**
 * What makes two requests with one key the same request: the API version, method, path, query
 * and body. The versions share an operation's keys (`createPost` is one operation through /v1
 * and /v2), so the version is in the fingerprint: a key used through one and sent again through
 * another is a reuse (422), never answered with the other version's response. v1's fingerprints
 * leave it out, as they were made before there was another version, so that its keys recorded
 * then still match their retries.
 */
export function fingerprint(call: Pick<KeyedCall, 'api' | 'method' | 'params' | 'query' | 'body'>): string {
  const request = { method: call.method.toUpperCase(), params: call.params, query: call.query, body: call.body };
  const canonical = canonicalJson(call.api === V1_PREFIX ? request : { ...request, api: call.api });
  return hash('sha256', canonical, 'hex');
}

/**
 * The operations whose handlers do dear work before their first write: their keys are looked up
 * before it (`KeyedRequest.lookupFirst`), so that a retry is answered or refused without it. A
 * sign-up hashes its password (argon2id, tens of milliseconds of a thread).
 */
const LOOKED_UP_FIRST: ReadonlySet<string> = new Set(['createAccount']);

export function idempotentRunner(service: IdempotencyService): RunIdempotently {
  return async (call, respond) => {
    const scope = call.caller?.accountId ?? ANONYMOUS_SCOPE;
    return service.execute(
      { scope, operation: call.operationId, key: call.key, fingerprint: fingerprint(call), lookupFirst: LOOKED_UP_FIRST.has(call.operationId) },
      async (unitOfWork) => {
        // The writes a domain served apart makes for this request are keyed from this key
        // (src/remote/client.ts): a retry of this request does not make them twice.
        const context = { ...currentCall(), idempotency: { scope, operation: call.operationId, key: call.key } };
        const response = await withCall(context, () => respond(unitOfWork));
        return { response, keep: response.status < 500 };
      },
    );
  };
}
