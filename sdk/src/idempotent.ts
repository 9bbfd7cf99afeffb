// Generated from openapi.yaml by `npm run generate`; do not edit.

/** The operations marked `x-idempotent: true`, as `METHOD /path`: they take an Idempotency-Key. */
export const idempotentOperations: ReadonlySet<string> = new Set([
  'POST /accounts',
  'POST /channels',
  'POST /channels/{channelId}/posts',
  'POST /conversations',
  'POST /conversations/{conversationId}/messages',
  'POST /friend-requests',
  'POST /posts',
]);
