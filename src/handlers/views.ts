// How domain objects look on the wire. Every field is listed: nothing is serialized whole.
import type { Account, AccountSummary, Caller } from '../services/accounts/index.ts';
import type { Post } from '../services/posts/index.ts';
import type { Schemas } from './operations.ts';
import { isoTime } from './iso-time.ts';

/** `email` is shown only to the account's owner. */
export function accountView(account: Account, caller: Caller | null): Schemas['Account'] {
  return {
    id: account.id,
    handle: account.handle,
    displayName: account.displayName,
    bio: account.bio,
    ...(caller?.accountId === account.id ? { email: account.email } : {}),
    createdAt: isoTime(account.createdAt),
    updatedAt: isoTime(account.updatedAt),
    version: account.version,
  };
}

export function accountSummaryView(account: AccountSummary): Schemas['AccountSummary'] {
  return { id: account.id, handle: account.handle, displayName: account.displayName };
}

/**
 * A post's two times on the wire. Most posts are never edited, and their two times are equal
 * (one Date, as the posts store reads them): written once. `toISOString` was the largest part of
 * a page of posts' own CPU (bench/README.md).
 */
export function postTimes(post: Pick<Post, 'createdAt' | 'updatedAt'>): { createdAt: string; updatedAt: string } {
  const createdAt = isoTime(post.createdAt);
  return { createdAt, updatedAt: post.updatedAt.getTime() === post.createdAt.getTime() ? createdAt : isoTime(post.updatedAt) };
}

export function postView(post: Post): Schemas['Post'] {
  const { createdAt, updatedAt } = postTimes(post);
  return {
    id: post.id,
    authorId: post.authorId,
    author: accountSummaryView(post.author),
    channelId: post.channelId,
    text: post.text,
    createdAt,
    updatedAt,
    version: post.version,
  };
}
