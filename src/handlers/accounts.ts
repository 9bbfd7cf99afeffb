// operationIds tagged `accounts`.
import type { AccountsService, Caller } from '../services/accounts/index.ts';
import { etag, expectedVersion, requireIfMatch } from './conditional.ts';
import { permissions, when } from './allowed.ts';
import type { Handlers } from './operations.ts';
import { ApiProblem, serviceCall } from './problem.ts';
import { accountView } from './views.ts';

export const DEFAULT_LIMIT = 20;
const LIST_FIELDS = { cursor: 'query/cursor', page: 'query/page' };

function signedIn(caller: Caller | null): Caller {
  // The spec requires bearerAuth for these operations, so the security handler has run.
  if (!caller) throw new ApiProblem('unauthenticated', 'sign in first');
  return caller;
}

export function accountsHandlers(accounts: AccountsService) {
  return {
    async createAccount({ body, unitOfWork }) {
      const account = await serviceCall(accounts.signUp(body, unitOfWork));
      return {
        status: 201,
        body: accountView(account, { accountId: account.id, sessionId: '' }),
        headers: { location: `/v1/accounts/${account.id}`, etag: etag(account.version) },
      };
    },

    async listAccounts({ query, caller }) {
      const limit = query.limit ?? DEFAULT_LIMIT;
      const page = await serviceCall(
        accounts.list({
          limit,
          cursor: query.cursor,
          page: query.page,
          newestFirst: (query.sort ?? '-createdAt') === '-createdAt',
          handlePrefix: query.handle,
        }),
        LIST_FIELDS,
      );
      return { status: 200, body: { data: page.items.map((a) => accountView(a, caller)), nextCursor: page.nextCursor } };
    },

    async getAccount({ path, caller }) {
      const account = await serviceCall(accounts.get(path.accountId));
      return { status: 200, body: accountView(account, caller), headers: { etag: etag(account.version) } };
    },

    async updateAccount({ path, headers, body, caller }) {
      const version = requireIfMatch(headers['if-match']);
      const account = await serviceCall(accounts.updateProfile(signedIn(caller), path.accountId, version, body));
      return { status: 200, body: accountView(account, caller), headers: { etag: etag(account.version) } };
    },

    async deleteAccount({ path, headers, caller }) {
      await serviceCall(accounts.close(signedIn(caller), path.accountId, expectedVersion(headers['if-match'])));
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
      const may = await serviceCall(accounts.permissions(caller, path.accountId));
      return ['GET', ...when(may.update, 'PATCH'), ...when(may.delete, 'DELETE')];
    },
  });
}
