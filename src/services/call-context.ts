// What a call carries beyond its arguments, for the calls it makes to other processes (a domain
// served apart, src/remote/): the request id, to be logged on both sides, and the Idempotency-Key
// of the request being run at most once, from which the internal calls' keys are derived. The
// HTTP layer opens it for each request; the idempotent runner adds the key. Services never read it.
import { AsyncLocalStorage } from 'node:async_hooks';

export interface CallContext {
  requestId?: string;
  /** Set while a keyed request runs (src/handlers/idempotency.ts). */
  idempotency?: { scope: string; operation: string; key: string };
}

const storage = new AsyncLocalStorage<CallContext>();

/** The context of the call running now, if any. */
export function currentCall(): CallContext | undefined {
  return storage.getStore();
}

/** Runs `work` (and everything it starts) in `context`. */
export function withCall<T>(context: CallContext, work: () => T): T {
  return storage.run(context, work);
}
