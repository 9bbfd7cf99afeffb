// OPTIONS comes from the contract: one generic handler (src/http/routes.ts) answers every OPTIONS
// operation, with `Allow` listing the methods the contract declares on the path that the caller
// may use. What the caller may use is the domain's business, asked through one permission
// function per resource path (each resource's handler module provides its own), which maps the
// service's verdict (`may.update`...) to HTTP methods and refuses, as the service does, a
// resource the caller may not know exists (404) or a missing sign-in (401).
import type { Caller } from '../services/accounts/index.ts';

export interface PermissionRequest<Path = Record<string, string>> {
  /** The path parameters, ids lower-case. */
  path: Path;
  caller: Caller | null;
}

/** The methods (upper-case) the caller may use on the resource; throws the problem to answer with instead. */
export type PermissionFunction<Path = Record<string, string>> = (request: PermissionRequest<Path>) => Promise<Iterable<string>>;

/** The permission function of every resource path (as the contract spells it: `/posts/{postId}`). */
export type AllowedMethods = Record<string, PermissionFunction>;

/** The parameters of a path template: `/channels/{channelId}/members/{accountId}` has channelId and accountId. */
type ParametersOf<P extends string> = P extends `${string}{${infer Name}}${infer Rest}` ? Record<Name, string> & ParametersOf<Rest> : unknown;

/** Permission functions keyed by path template, each typed with its path's parameters. */
export function permissions<P extends string>(functions: { [K in P]: PermissionFunction<ParametersOf<K>> }): AllowedMethods {
  // The route binder calls each with the parameters of its own path, validated by the contract.
  return functions as unknown as AllowedMethods;
}

/** Methods given when a condition holds: `when(may.update, 'PATCH')`. */
export function when(condition: boolean, ...methods: string[]): string[] {
  return condition ? methods : [];
}

