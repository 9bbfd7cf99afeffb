// Generated from openapi-v2.yaml by `npm run generate`; do not edit.

/** The operations marked `x-idempotent: true`, as `METHOD /path`: they take an Idempotency-Key. */
export const idempotentOperationsV2: ReadonlySet<string> = new Set([
  'POST /channels/{channelId}/posts',
  'POST /posts',
]);
