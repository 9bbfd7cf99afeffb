// operationIds tagged `accounts`.
import { signedIn, type AccountsService, type Caller } from '../services/accounts/index.ts';
import { etag } from './conditional.ts';
import { permissions, when } from './allowed.ts';
import type { Handlers } from './operations.ts';
import { accountView } from './views.ts';

export const DEFAULT_LIMIT = 20;
const LIST_FIELDS = { cursor: 'query/cursor', page: 'query/page' };


export function accountsHandlers(accounts: AccountsService) {
  return {
    async createAccount({ body, unitOfWork }) {
      const account = await accounts.signUp(body, unitOfWork);
      return {
        status: 201,
        body: accountView(account, { accountId: account.id, sessionId: '' }),
        headers: { location: `/v1/accounts/${account.id}`, etag: etag(account.version) },
      };
    },

    async listAccounts({ query, caller }) {
      const limit = query.limit ?? DEFAULT_LIMIT;
      const page = await accounts.list({
          limit,
          cursor: query.cursor,
          page: query.page,
          newestFirst: (query.sort ?? '-createdAt') === '-createdAt',
          handlePrefix: query.handle,
        });
      return { status: 200, body: { data: page.items.map((a) => accountView(a, caller)), nextCursor: page.nextCursor } };
    },

    async getAccount({ path, caller }) {
      const account = await accounts.get(path.accountId);
      return { status: 200, body: accountView(account, caller), headers: { etag: etag(account.version) } };
    },

    async updateAccount({ path, expectedVersion, body, caller }) {
      const account = await accounts.updateProfile(signedIn(caller), path.accountId, expectedVersion, body);
      return { status: 200, body: accountView(account, caller), headers: { etag: etag(account.version) } };
    },

    async deleteAccount({ path, expectedVersion, caller }) {
      await accounts.close(signedIn(caller), path.accountId, expectedVersion);
      return { status: 204 };
    },
  } satisfies Partial<Handlers>;
}

/** Who may do what to accounts: anyone reads and signs up, an account's owner edits and closes it. */
export function accountsAllowedMethods(accounts: AccountsService) {
  return permissions({
    async '/accounts'() {
      return ['GET', 'POST'];
    },
    async '/accounts/{accountId}'({ path, caller }) {
      const may = await accounts.permissions(caller, path.accountId);
      return ['GET', ...when(may.update, 'PATCH'), ...when(may.delete, 'DELETE')];
    },
  });
}
