// Password hashing with argon2id at OWASP's recommended parameters (m = 19 MiB, t = 2, p = 1).
// @node-rs/argon2 hashes on libuv's thread pool, off the event loop.
import { hash, verify, type Algorithm } from '@node-rs/argon2';
import type { Log } from '../../log.ts';

// `Algorithm` is a const enum, which type stripping cannot inline: 2 is Algorithm.Argon2id.
const ARGON2ID = 2 as Algorithm;
const OPTIONS = { algorithm: ARGON2ID, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export function hashPassword(password: string): Promise<string> {
  return hash(password, OPTIONS);
}

// Verified against when the email is unknown, so that failure takes as long either way.
const decoy = hash('agora-decoy-password', OPTIONS);

export async function verifyPassword(passwordHash: string | undefined, password: string, log: Log): Promise<boolean> {
  if (passwordHash === undefined) {
    await verify(await decoy, password).catch((error: unknown) => log.error({ err: error }, 'the decoy password hash cannot be verified'));
    return false;
  }
  try {
    return await verify(passwordHash, password);
  } catch (error) {
    // A stored hash that argon2 cannot read: the sign-in fails, and someone must look at the row.
    log.error({ err: error }, 'a stored password hash cannot be verified');
    return false;
  }
}
