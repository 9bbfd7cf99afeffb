// Opaque bearer tokens: 256 bits from the CSPRNG. Only their SHA-256 is stored; a token
// with that much entropy needs no slow hash.
import { hash, randomBytes } from 'node:crypto';

const PREFIX = 'agora_';
const SHAPE = /^agora_[A-Za-z0-9_-]{43}$/;

export function newToken(): string {
  return PREFIX + randomBytes(32).toString('base64url');
}

export function isWellFormedToken(token: string): boolean {
  return SHAPE.test(token);
}

export function tokenHash(token: string): string {
  return hash('sha256', token, 'hex');
}
