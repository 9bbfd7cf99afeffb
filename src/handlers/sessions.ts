// operationIds tagged `sessions`.
import { signedIn, type SessionsService } from '../services/accounts/index.ts';
import { etag } from './conditional.ts';
import { permissions } from './allowed.ts';
import type { Handlers } from './operations.ts';
import { accountView } from './views.ts';
import { isoTime } from './iso-time.ts';


export function sessionsHandlers(sessions: SessionsService) {
  return {
    async createSession({ body, unitOfWork }) {
      const signed = await sessions.signIn(body.email, body.password, unitOfWork);
      const owner = { accountId: signed.account.id, sessionId: '' };
      return {
        status: 201,
        body: { token: signed.token, expiresAt: isoTime(signed.expiresAt), account: accountView(signed.account, owner) },
        headers: { location: '/v1/sessions/me', 'cache-control': 'no-store' },
      };
    },

    async getCurrentSession({ caller }) {
      const account = await sessions.currentAccount(signedIn(caller));
      return { status: 200, body: accountView(account, caller), headers: { etag: etag(account.version) } };
    },

    async deleteCurrentSession({ caller }) {
      await sessions.signOut(signedIn(caller));
      return { status: 204 };
    },
  } satisfies Partial<Handlers>;
}

/** Anyone signs in; a session's holder reads and ends it (the contract requires its token). */
export function sessionsAllowedMethods() {
  return permissions({
    async '/sessions'() {
      return ['POST'];
    },
    async '/sessions/me'() {
      return ['GET', 'DELETE'];
    },
  });
}
