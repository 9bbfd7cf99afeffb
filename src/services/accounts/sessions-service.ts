// Signing in and out, and turning a bearer token back into a caller.
import { newId } from '../ids.ts';
import { silentLog, type Log } from '../../log.ts';
import type { AccountsStore } from '../../persistence/accounts/index.ts';
import { InvalidatedCache, noCaching, type Caching, type InvalidationSource } from '../cache.ts';
import { InvalidCredentials, NotFound, Unauthenticated } from '../errors.ts';
import type { Account, AccountsSettings, Caller, SignedIn } from './model.ts';
import { verifyPassword } from './passwords.ts';
import { isWellFormedToken, newToken, tokenHash } from './tokens.ts';
import type { UnitOfWork } from '../unit-of-work.ts';

// Recording every use of a session would turn each read into a write.
const TOUCH_GRANULARITY_MS = 60_000;

/** A session as the cache holds it, under its token's hash. */
interface CachedSession {
  sessionId: string;
  accountId: string;
  expiresAt: number;
  /** When the database last confirmed it (and recorded its use). */
  verifiedAt: number;
}

/**
 * The sessions' service interface (served in process by SessionKeeper, below, or by the accounts
 * domain server through the stub of src/remote/accounts.ts, like AccountsService).
 */
export interface SessionsService {
  signIn(email: string, password: string, unitOfWork?: UnitOfWork): Promise<SignedIn>;
  authenticate(token: string): Promise<Caller>;
  currentAccount(caller: Caller): Promise<Account>;
  signOut(caller: Caller): Promise<void>;
  forgetAccount(accountId: string): Promise<void>;
  purgeExpired(): Promise<number>;
}

export class SessionKeeper implements SessionsService {
  readonly #store: AccountsStore;
  readonly #settings: AccountsSettings;
  readonly #now: () => Date;
  readonly #log: Log;
  /**
   * Tokens seen in the last minute: a request with one costs no query. The database is asked
   * again once a minute per session (which records its use), and sign-out, expiry, closing the
   * account or deleting the row by hand evict it on every instance (see ../cache.ts).
   */
  readonly #cache: InvalidatedCache<CachedSession>;
  readonly #invalidations: InvalidationSource;

  constructor(
    store: AccountsStore,
    settings: AccountsSettings,
    now: () => Date = () => new Date(),
    log: Log = silentLog,
    caching: Caching = noCaching,
  ) {
    this.#store = store;
    this.#settings = settings;
    this.#log = log;
    this.#now = now;
    this.#invalidations = caching.source;
    this.#cache = new InvalidatedCache(caching, { name: 'sessions', topic: 's', idOf: (session) => session.sessionId });
  }

  /** `unitOfWork`: the keyed request's, which the session is written in. */
  async signIn(email: string, password: string, unitOfWork?: UnitOfWork): Promise<SignedIn> {
    const credentials = await this.#store.findCredentials(email.trim().toLowerCase());
    const valid = await verifyPassword(credentials?.passwordHash, password, this.#log);
    if (!credentials || !valid) throw new InvalidCredentials();
    const account = await this.#store.findAccount(credentials.accountId);
    if (!account) throw new InvalidCredentials(); // closed between the two reads
    const now = this.#now();
    const token = newToken();
    const expiresAt = new Date(now.getTime() + this.#settings.sessionAbsoluteTtlSeconds * 1000);
    await this.#store.insertSession({
      id: newId(),
      accountId: account.id,
      tokenHash: tokenHash(token),
      createdAt: now,
      lastUsedAt: now,
      expiresAt,
    }, unitOfWork);
    return { token, expiresAt, account };
  }

  /** The caller a token stands for; throws Unauthenticated if it is unknown, revoked or expired. */
  async authenticate(token: string): Promise<Caller> {
    if (!isWellFormedToken(token)) throw new Unauthenticated('the token is not one this API issued');
    const hash = tokenHash(token);
    const now = this.#now();
    const cached = this.#cache.get(hash);
    if (cached && cached.expiresAt > now.getTime() && now.getTime() - cached.verifiedAt < TOUCH_GRANULARITY_MS) {
      return { accountId: cached.accountId, sessionId: cached.sessionId };
    }
    const stamp = this.#cache.stamp();
    const session = await this.#store.findSessionByTokenHash(hash);
    if (!session) throw new Unauthenticated('the token is unknown or was revoked');
    const idleLimit = session.lastUsedAt.getTime() + this.#settings.sessionIdleTtlSeconds * 1000;
    if (session.expiresAt.getTime() <= now.getTime() || idleLimit <= now.getTime()) {
      await this.#store.deleteSession(session.id);
      this.#cache.evict([session.id]);
      throw new Unauthenticated('the token has expired; sign in again');
    }
    await this.#store.touchSession(session.id, now, TOUCH_GRANULARITY_MS);
    this.#cache.set(hash, { sessionId: session.id, accountId: session.accountId, expiresAt: session.expiresAt.getTime(), verifiedAt: now.getTime() }, stamp);
    return { accountId: session.accountId, sessionId: session.id };
  }

  async currentAccount(caller: Caller): Promise<Account> {
    const account = await this.#store.findAccount(caller.accountId);
    if (!account) throw new Unauthenticated('the account was closed');
    return account;
  }

  async signOut(caller: Caller): Promise<void> {
    const deleted = await this.#store.deleteSession(caller.sessionId);
    this.#cache.evict([caller.sessionId]);
    if (!deleted) throw new NotFound('session');
    // Answer once this instance has applied every invalidation the change caused; the other
    // instances apply them within the staleness bound (see services/cache.ts).
    await this.#invalidations.sync();
  }

  /** A closed account's sessions (deleted with it by the database) stop working here at once. */
  async forgetAccount(accountId: string): Promise<void> {
    this.#cache.evictWhere((session) => session.accountId === accountId);
    await this.#invalidations.sync();
  }

  /** Deletes sessions that can no longer be used; returns how many. */
  async purgeExpired(): Promise<number> {
    const now = this.#now();
    return this.#store.deleteExpiredSessions(now, new Date(now.getTime() - this.#settings.sessionIdleTtlSeconds * 1000));
  }
}
