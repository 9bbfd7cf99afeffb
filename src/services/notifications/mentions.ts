// `@handle` mentions in a post's text.

/** A handle (see the contract's Handle) after `@`, not inside a word or an email address. */
const MENTION = /(?<![A-Za-z0-9_@])@([A-Za-z0-9_]{3,30})(?![A-Za-z0-9_@])/g;

/** At most this many distinct accounts are notified for one post: a post naming hundreds is spam. */
export const MAX_MENTIONS = 20;

/** The distinct handles mentioned in `text`, lower-case, in order of appearance, at most MAX_MENTIONS. */
export function mentionedHandles(text: string): string[] {
  const handles = new Set<string>();
  for (const match of text.matchAll(MENTION)) {
    handles.add(match[1]!.toLowerCase());
    if (handles.size === MAX_MENTIONS) break;
  }
  return [...handles];
}

/**
 * Whether a published post can notify anybody: a channel's post notifies its members, a general
 * one only the accounts it mentions. Decided when the post is written, so that the others
 * enqueue no job.
 */
export function concernsNotifications(post: { channelId: string | null; text: string }): boolean {
  return post.channelId !== null || mentionedHandles(post.text).length > 0;
}
