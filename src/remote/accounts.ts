// The accounts domain served apart: its two service interfaces (AccountsService, SessionsService)
// over the internal contract internal/accounts.openapi.yaml, whose generated operations type both
// sides. `agree` below fails the build when the interfaces and the contract disagree, in either
// direction. Maps cross as their entries, iterables as arrays. An API instance using the stub
// keeps no cache of sessions or summaries: each token is checked by the domain server, so a
// sign-out is seen at once everywhere.
import type { operations } from '../../generated/internal/accounts.d.ts';
import type { Account, AccountsService, SessionsService, SignedIn } from '../services/accounts/index.ts';
import type { UnitOfWork } from '../services/unit-of-work.ts';
import type { RemoteClient } from './client.ts';
import type { InternalBinding } from './server.ts';
import { agree, type ArgsOf, type Wire } from './wire.ts';

agree<AccountsService & SessionsService, operations>(true);

/** The accounts domain's internal contract. */
export const accountsContract = new URL('../../internal/accounts.openapi.yaml', import.meta.url);

type Op<K extends keyof operations> = ArgsOf<operations[K]>;

const account = (wire: Wire<Account>): Account => ({ ...wire, createdAt: new Date(wire.createdAt), updatedAt: new Date(wire.updatedAt) });
const signedIn = (wire: Wire<SignedIn>): SignedIn => ({ ...wire, expiresAt: new Date(wire.expiresAt), account: account(wire.account) });

/** AccountsService and SessionsService, by calling a domain server (ACCOUNTS_SERVICE_URL). */
export function accountsStub(client: RemoteClient<operations>): { accounts: AccountsService; sessions: SessionsService } {
  const accounts: AccountsService = {
    async signUp(input, unitOfWork) {
      return account(await client.call('signUp', [input], { unitOfWork }));
    },
    async get(accountId) {
      return account(await client.call('get', [accountId]));
    },
    async summaries(accountIds) {
      const ids = [...new Set(accountIds)];
      return new Map(ids.length === 0 ? [] : await client.call('summaries', [ids]));
    },
    async idsByHandles(handles) {
      const list = [...new Set(handles)];
      return new Map(list.length === 0 ? [] : await client.call('idsByHandles', [list]));
    },
    async assertExists(accountId) {
      await client.call('assertExists', [accountId]);
    },
    async list(request) {
      const page = await client.call('list', [request]);
      return { items: page.items.map(account), nextCursor: page.nextCursor };
    },
    async updateProfile(caller, accountId, expectedVersion, patch) {
      return account(await client.call('updateProfile', [caller, accountId, expectedVersion ?? null, patch]));
    },
    async close(caller, accountId, expectedVersion) {
      await client.call('close', [caller, accountId, expectedVersion ?? null]);
    },
    async permissions(caller, accountId) {
      return client.call('permissions', [caller, accountId]);
    },
  };
  const sessions: SessionsService = {
    async signIn(email, password, unitOfWork) {
      return signedIn(await client.call('signIn', [email, password], { unitOfWork }));
    },
    async authenticate(token) {
      return client.call('authenticate', [token]);
    },
    async currentAccount(caller) {
      return account(await client.call('currentAccount', [caller]));
    },
    async signOut(caller) {
      await client.call('signOut', [caller]);
    },
    async forgetAccount(accountId) {
      await client.call('forgetAccount', [accountId]);
    },
    async purgeExpired() {
      return client.call('purgeExpired', []);
    },
  };
  return { accounts, sessions };
}

/** The internal API over the accounts and sessions services of this process (SERVE_DOMAINS=accounts). */
export function accountsBinding(accounts: AccountsService, sessions: SessionsService): InternalBinding {
  // Signing up hashes a password and signing in checks one before the first write: their keys
  // are looked up first, so that a repeat is answered without that work.
  const operations: { [K in keyof operations]: { keyed: boolean; lookupFirst?: boolean; run(args: Op<K>, unitOfWork?: UnitOfWork): Promise<unknown> } } = {
    signUp: { keyed: true, lookupFirst: true, run: ([input], uow) => accounts.signUp(input, uow) },
    get: { keyed: false, run: ([accountId]) => accounts.get(accountId) },
    summaries: { keyed: false, run: async ([ids]) => [...(await accounts.summaries(ids))] },
    idsByHandles: { keyed: false, run: async ([handles]) => [...(await accounts.idsByHandles(handles))] },
    assertExists: { keyed: false, run: ([accountId]) => accounts.assertExists(accountId) },
    list: { keyed: false, run: ([request]) => accounts.list(request) },
    updateProfile: { keyed: false, run: ([caller, accountId, expectedVersion, patch]) => accounts.updateProfile(caller, accountId, expectedVersion ?? undefined, patch) },
    close: { keyed: false, run: ([caller, accountId, expectedVersion]) => accounts.close(caller, accountId, expectedVersion ?? undefined) },
    permissions: { keyed: false, run: ([caller, accountId]) => accounts.permissions(caller, accountId) },
    signIn: { keyed: true, lookupFirst: true, run: ([email, password], uow) => sessions.signIn(email, password, uow) },
    authenticate: { keyed: false, run: ([token]) => sessions.authenticate(token) },
    currentAccount: { keyed: false, run: ([caller]) => sessions.currentAccount(caller) },
    signOut: { keyed: false, run: ([caller]) => sessions.signOut(caller) },
    forgetAccount: { keyed: false, run: ([accountId]) => sessions.forgetAccount(accountId) },
    purgeExpired: { keyed: false, run: () => sessions.purgeExpired() },
  };
  return { target: 'accounts', contract: accountsContract, operations };
}
