// Optimistic concurrency on accounts: versions and strong ETags, If-Match required on PATCH
// (428/412), honoured on DELETE, and If-None-Match answered with 304 on GETs.
import t from 'tap';
import { ifMatch } from 'agora-sdk';
import { startAgora } from './helpers/agora.ts';

const agora = await startAgora(t);

function patch(accountId: string, token: string, body: unknown, headers: Record<string, string> = {}) {
  return agora.raw('PATCH', `/v1/accounts/${accountId}`, {
    headers: { 'content-type': 'application/merge-patch+json', authorization: `Bearer ${token}`, ...headers },
    body: JSON.stringify(body),
  });
}

t.test('PATCH needs If-Match: 428 without, 412 with a stale one (carrying the current version), 200 with the current one', async (t) => {
  const { account, token } = await agora.signUp();
  const missing = await patch(account.id, token, { bio: 'first' });
  t.equal(missing.status, 428);
  t.equal(missing.json.type, 'urn:agora:problem:precondition-required');
  t.same(missing.json.errors, [{ pointer: 'header/if-match', detail: 'is required' }]);

  const updated = await patch(account.id, token, { bio: 'first' }, { 'if-match': '"0"' });
  t.equal(updated.status, 200);
  t.equal(updated.json.version, 1);
  t.equal(updated.json.bio, 'first');
  t.equal(updated.headers.get('etag'), '"1"');

  const stale = await patch(account.id, token, { bio: 'second' }, { 'if-match': '"0"' });
  t.equal(stale.status, 412);
  t.equal(stale.json.type, 'urn:agora:problem:precondition-failed');
  t.equal(stale.json.currentVersion, 1);
  t.equal(stale.headers.get('etag'), '"1"');
  const [row] = await agora.sql('select bio, version from accounts.account where id = $1', [account.id]);
  t.same(row, { bio: 'first', version: 1 }, 'the stale update changed nothing');

  t.equal((await patch(account.id, token, { bio: 'x' }, { 'if-match': 'W/"1"' })).status, 412, 'a weak tag never matches If-Match');
  t.equal((await patch(account.id, token, { bio: 'x' }, { 'if-match': 'garbage' })).status, 400);
  const star = await patch(account.id, token, { displayName: 'Star' }, { 'if-match': '*' });
  t.equal(star.status, 200, '* matches whatever version exists');
  t.equal(star.json.version, 2);
});

t.test('the SDK: 412 is a PreconditionFailedError carrying the current version', async (t) => {
  const { account, client } = await agora.signUp();
  const sdk = await import('agora-sdk');
  const first = await sdk.unwrap(client.PATCH('/accounts/{accountId}', { params: { path: { accountId: account.id }, header: { 'If-Match': ifMatch(0) } }, body: { bio: 'a' } }));
  t.equal(first.version, 1);
  const error = await sdk
    .unwrap(client.PATCH('/accounts/{accountId}', { params: { path: { accountId: account.id }, header: { 'If-Match': ifMatch(0) } }, body: { bio: 'b' } }))
    .catch((e: unknown) => e);
  t.ok(error instanceof sdk.PreconditionFailedError);
  t.equal((error as InstanceType<typeof sdk.PreconditionFailedError>).currentVersion, 1);
});

t.test('DELETE honours If-Match when sent', async (t) => {
  const { account, token } = await agora.signUp();
  const auth = { authorization: `Bearer ${token}` };
  const stale = await agora.raw('DELETE', `/v1/accounts/${account.id}`, { headers: { ...auth, 'if-match': '"5"' } });
  t.equal(stale.status, 412);
  t.equal(stale.json.currentVersion, 0);
  t.equal(await agora.count(`accounts.account where id = '${account.id}'`), 1);
  const done = await agora.raw('DELETE', `/v1/accounts/${account.id}`, { headers: { ...auth, 'if-match': '"0"' } });
  t.equal(done.status, 204);
});

t.test('GET answers If-None-Match with 304 while the copy is current', async (t) => {
  const { account, token } = await agora.signUp();
  const auth = { authorization: `Bearer ${token}` };
  for (const path of [`/v1/accounts/${account.id}`, '/v1/sessions/me']) {
    const fresh = await agora.raw('GET', path, { headers: auth });
    t.equal(fresh.status, 200, path);
    const tag = fresh.headers.get('etag')!;
    for (const ifNoneMatch of [tag, `W/${tag}`, `"99", ${tag}`, '*']) {
      const cached = await agora.raw('GET', path, { headers: { ...auth, 'if-none-match': ifNoneMatch } });
      t.equal(cached.status, 304, `${path} If-None-Match: ${ifNoneMatch}`);
      t.equal(cached.text, '', 'no body');
      t.equal(cached.headers.get('etag'), tag);
    }
    const head = await agora.raw('HEAD', path, { headers: { ...auth, 'if-none-match': tag } });
    t.equal(head.status, 304, `HEAD ${path}`);
  }
  const before = await agora.raw('GET', `/v1/accounts/${account.id}`, {});
  t.equal((await patch(account.id, token, { bio: 'changed' }, { 'if-match': before.headers.get('etag')! })).status, 200);
  const changed = await agora.raw('GET', `/v1/accounts/${account.id}`, { headers: { 'if-none-match': before.headers.get('etag')! } });
  t.equal(changed.status, 200, 'a stale copy gets the new representation');
  t.equal(changed.json.bio, 'changed');
  t.equal(changed.headers.get('etag'), '"1"');
});

t.test('each successful update answers with exactly the row it wrote', async (t) => {
  const { account, token } = await agora.signUp();
  // Ten updates race from version 0; exactly one can win each version.
  const results = await Promise.all(
    Array.from({ length: 10 }, (_, i) => patch(account.id, token, { bio: `writer ${i}` }, { 'if-match': '"0"' })),
  );
  const won = results.filter((r) => r.status === 200);
  t.equal(won.length, 1, 'one conditional write wins');
  t.equal(won[0]!.json.version, 1);
  t.ok(results.every((r) => r.status === 200 || (r.status === 412 && r.json.currentVersion === 1)));
  const [row] = await agora.sql('select bio from accounts.account where id = $1', [account.id]);
  t.equal(row!.bio, won[0]!.json.bio, "the winner's change is the stored one");
});
