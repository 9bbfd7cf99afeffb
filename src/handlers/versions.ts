// The API's versions, by the path prefix each is served under (src/http/app.ts registers both).
// Handlers write them into links and Locations; the idempotency runner tells keyed requests of
// one version from the other's by them.

export const V1_PREFIX = '/v1';
export const V2_PREFIX = '/v2';
