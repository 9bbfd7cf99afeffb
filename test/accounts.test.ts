import t from 'tap';
import { ifMatch } from 'agora-sdk';
import { startAgora } from './helpers/agora.ts';

const agora = await startAgora(t);

t.test('a profile update needs If-Match, as the spec spells it, and refuses a stale one', async (t) => {
  const { account, client } = await agora.signUp();
  const path = { accountId: account.id };
  const missing = await client.PATCH('/accounts/{accountId}', { params: { path } as never, body: { bio: 'x' } });
  t.equal(missing.response.status, 428);
  const updated = await client.PATCH('/accounts/{accountId}', { params: { path, header: { 'If-Match': ifMatch(0) } }, body: { bio: 'Analyst.' } });
  t.equal(updated.response.status, 200);
  t.equal(updated.data!.bio, 'Analyst.');
  t.equal(updated.response.headers.get('etag'), '"1"');
  const stale = await client.PATCH('/accounts/{accountId}', { params: { path, header: { 'If-Match': ifMatch(0) } }, body: { bio: 'Again.' } });
  t.equal(stale.response.status, 412);
  t.equal(stale.error!.currentVersion, 1);
  const lowercase = await agora.raw('PATCH', `/v1/accounts/${account.id}`, {
    headers: { authorization: `Bearer ${client.token}`, 'if-match': '"1"', 'content-type': 'application/merge-patch+json' },
    body: '{"bio":null}',
  });
  t.equal(lowercase.status, 200, 'header names are case-insensitive');
  t.equal(lowercase.json.bio, null);
});
