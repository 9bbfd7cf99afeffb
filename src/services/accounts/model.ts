// What the accounts domain hands to its callers.

export interface Account {
  id: string;
  email: string;
  handle: string;
  displayName: string;
  bio: string | null;
  createdAt: Date;
  updatedAt: Date;
  version: number;
}

/** The part of an account other domains embed next to their data (a post's author, a friend). */
export interface AccountSummary {
  id: string;
  handle: string;
  displayName: string;
}

export interface NewAccount {
  email: string;
  password: string;
  handle: string;
  displayName: string;
}

export interface ProfilePatch {
  displayName?: string;
  bio?: string | null;
}

export interface ListAccountsRequest {
  limit: number;
  cursor?: string;
  page?: number;
  newestFirst: boolean;
  handlePrefix?: string;
}

/** Who is calling: established by a valid session. */
export interface Caller {
  accountId: string;
  sessionId: string;
}

export interface SignedIn {
  token: string;
  expiresAt: Date;
  account: Account;
}

export interface AccountsSettings {
  maxPage: number;
  sessionIdleTtlSeconds: number;
  sessionAbsoluteTtlSeconds: number;
}
