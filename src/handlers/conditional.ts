// A resource's entity tag carries its version: `"3"`. The conditional headers that name one
// (If-Match, If-None-Match) are read by src/http/plugins/conditional.ts.

export function etag(version: number): string {
  return `"${version}"`;
}
