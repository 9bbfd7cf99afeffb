// addRouteHook (src/http/route-hooks.ts): a plugin's hook joins a route's own, in front of or
// behind those added before it, whatever shape the route's list had.
import type { RouteOptions } from 'fastify';
import t from 'tap';
import { addRouteHook } from '../src/http/route-hooks.ts';

const route = (hooks: Partial<RouteOptions>) => ({ method: 'GET', url: '/x', handler: () => {}, ...hooks }) as RouteOptions;

t.test('a route with no hook of that kind gets a list of one', async (t) => {
  const r = route({});
  const hook = () => {};
  addRouteHook(r, 'preHandler', hook, 'last');
  t.same(r.preHandler, [hook]);
});

t.test('first goes in front, last behind; a single hook becomes a list', async (t) => {
  const [a, b, c] = [() => {}, () => {}, () => {}];
  const r = route({ onSend: a as never });
  addRouteHook(r, 'onSend', b, 'first');
  addRouteHook(r, 'onSend', c, 'last');
  t.equal((r.onSend as unknown[]).length, 3);
  t.equal((r.onSend as unknown[])[0], b);
  t.equal((r.onSend as unknown[])[1], a);
  t.equal((r.onSend as unknown[])[2], c);
});

t.test('other kinds of hooks are left as they were', async (t) => {
  const a = () => {};
  const r = route({ onRequest: [a] as never });
  addRouteHook(r, 'preValidation', () => {}, 'first');
  t.same(r.onRequest, [a]);
});
