// Who is acting, as every service receives it: a plain value, never a request.
import { SignInRequired } from '../errors.ts';
import type { Caller } from './model.ts';

/** The caller of an action that needs one signed in; an anonymous one is refused. */
export function signedIn(caller: Caller | null): Caller {
  if (!caller) throw new SignInRequired();
  return caller;
}
