// How domain objects look on the wire. Every field is listed: nothing is serialized whole.
import type { Account, AccountSummary, Caller } from '../services/accounts/index.ts';
import type { Post } from '../services/posts/index.ts';
import type { Schemas } from './operations.ts';

/** `email` is shown only to the account's owner. */
export function accountView(account: Account, caller: Caller | null): Schemas['Account'] {
  return {
    id: account.id,
    handle: account.handle,
    displayName: account.displayName,
    bio: account.bio,
    ...(caller?.accountId === account.id ? { email: account.email } : {}),
    createdAt: account.createdAt.toISOString(),
    updatedAt: account.updatedAt.toISOString(),
    version: account.version,
  };
}

export function accountSummaryView(account: AccountSummary): Schemas['AccountSummary'] {
  return { id: account.id, handle: account.handle, displayName: account.displayName };
}

export function postView(post: Post): Schemas['Post'] {
  return {
    id: post.id,
    authorId: post.authorId,
    author: accountSummaryView(post.author),
    channelId: post.channelId,
    text: post.text,
    createdAt: post.createdAt.toISOString(),
    updatedAt: post.updatedAt.toISOString(),
    version: post.version,
  };
}
