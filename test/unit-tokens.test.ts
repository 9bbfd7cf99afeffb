// Bearer tokens (src/services/accounts/tokens.ts), without a server: their shape, their entropy
// and the hash that is stored in their place.
import { createHash } from 'node:crypto';
import t from 'tap';
import { isWellFormedToken, newToken, tokenHash } from '../src/services/accounts/tokens.ts';

t.test('a new token is agora_ and 43 base64url characters (256 bits), different every time', async (t) => {
  const tokens = Array.from({ length: 50 }, () => newToken());
  for (const token of tokens) {
    t.match(token, /^agora_[A-Za-z0-9_-]{43}$/);
    t.equal(Buffer.from(token.slice('agora_'.length), 'base64url').length, 32);
    t.ok(isWellFormedToken(token));
  }
  t.equal(new Set(tokens).size, tokens.length);
});

t.test('only tokens of that shape are well-formed', async (t) => {
  const body = 'A'.repeat(43);
  t.ok(isWellFormedToken(`agora_${body}`));
  t.ok(isWellFormedToken(`agora_${'-_'.repeat(21)}z`));
  for (const token of ['', 'agora_', `agora_${body}A`, `agora_${body.slice(1)}`, `Agora_${body}`, `agora-${body}`, `agora_${body.slice(1)}=`, `agora_${body.slice(1)}+`, `agora_${body.slice(1)}/`, ` agora_${body}`, `agora_${body}\n`, body]) {
    t.notOk(isWellFormedToken(token), JSON.stringify(token));
  }
});

t.test('the stored hash is the SHA-256 of the whole token, in hex', async (t) => {
  const token = `agora_${'A'.repeat(43)}`;
  t.equal(tokenHash(token), createHash('sha256').update(token).digest('hex'));
  t.equal(tokenHash('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'the SHA-256 test vector');
  t.not(tokenHash(token), tokenHash(`agora_${'A'.repeat(42)}B`));
});
