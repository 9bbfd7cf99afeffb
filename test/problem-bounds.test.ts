// A problem document stays within the spec's Problem schema whatever the client sent.
import t from 'tap';
import { ApiProblem, PROBLEM_LIMITS, clip } from '../src/handlers/index.ts';
import { problemViolations, spec } from './helpers/contract.ts';

t.test('the limits are the Problem schema\'s', async (t) => {
  const schema = spec.components.schemas.Problem;
  t.equal(PROBLEM_LIMITS.detail, schema.properties.detail.maxLength);
  t.equal(PROBLEM_LIMITS.instance, schema.properties.instance.maxLength);
  t.equal(PROBLEM_LIMITS.errors, schema.properties.errors.maxItems);
  t.equal(PROBLEM_LIMITS.pointer, schema.properties.errors.items.properties.pointer.maxLength);
  t.equal(PROBLEM_LIMITS.errorDetail, schema.properties.errors.items.properties.detail.maxLength);
});

t.test('oversized texts are cut, an oversized instance is left out', async (t) => {
  const long = 'x'.repeat(5000);
  const problem = new ApiProblem('validation-error', `bad: ${long}`, {
    errors: Array.from({ length: 150 }, (_, i) => ({ pointer: `query/${long}${i}`, detail: `no ${long}` })),
  });
  const body = problem.body(`/v1/${long}`, 'request-1');
  t.same(problemViolations(body), []);
  t.equal(body.instance, undefined);
  t.equal(body.detail!.length, PROBLEM_LIMITS.detail);
  t.ok(body.detail!.endsWith('…'));
  t.equal(body.errors!.length, PROBLEM_LIMITS.errors);
  const short = new ApiProblem('not-found', 'nothing here').body('/v1/accounts', 'request-2');
  t.same(short, { type: 'urn:agora:problem:not-found', title: 'Not found', status: 404, detail: 'nothing here', instance: '/v1/accounts', requestId: 'request-2' });
});

t.test('clip never leaves half a surrogate pair', async (t) => {
  const text = `${'a'.repeat(8)}😀${'b'.repeat(10)}`;
  const cut = clip(text, 10);
  t.ok(cut.length <= 10);
  t.notMatch(cut, /[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
  t.equal(clip('short', 10), 'short');
});
