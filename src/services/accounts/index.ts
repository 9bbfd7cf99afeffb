// The accounts domain's public API. Everything else in this folder is private to it.
import { silentLog, type Log } from '../../log.ts';
import type { Database } from '../../persistence/sql.ts';
import { AccountsStore } from '../../persistence/accounts/index.ts';
import type { Caching } from '../cache.ts';
import type { DomainEvents } from '../events.ts';
import { AccountsDirectory, type AccountsService } from './accounts-service.ts';
import type { AccountsSettings } from './model.ts';
import { SessionKeeper, type SessionsService } from './sessions-service.ts';

export type { AccountsService } from './accounts-service.ts';
export type { SessionsService } from './sessions-service.ts';
export { signedIn } from './caller.ts';
export type { AccountClosed } from './events.ts';
export type { Account, AccountSummary, AccountsSettings, Caller, ListAccountsRequest, NewAccount, ProfilePatch, SignedIn } from './model.ts';

export function createAccountsDomain(
  db: Database,
  settings: AccountsSettings,
  events?: DomainEvents,
  log: Log = silentLog,
  caching?: Caching,
): { accounts: AccountsService; sessions: SessionsService } {
  const store = new AccountsStore(db, log);
  const sessions = new SessionKeeper(store, settings, undefined, log, caching);
  events?.on('account.closed', ({ accountId }) => sessions.forgetAccount(accountId));
  return {
    accounts: new AccountsDirectory(store, settings, events, undefined, caching),
    sessions,
  };
}
