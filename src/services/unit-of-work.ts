// The unit of work a keyed request's writes join, for the layers above persistence: services
// receive it as an argument and hand it to their store's writes; handlers pass it through
// without knowing what it is made of.
import type { UnitOfWork } from '../persistence/sql.ts';

export type { UnitOfWork };

/**
 * Runs `callback` once `uow` has committed when it can tell (see `UnitOfWork.afterCommit`), else
 * now: without a unit of work, the write has already committed.
 */
export async function whenCommitted(uow: UnitOfWork | undefined, callback: () => void | Promise<void>): Promise<void> {
  if (uow?.afterCommit) uow.afterCommit(callback);
  else await callback();
}
