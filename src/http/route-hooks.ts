// Hooks added to one route as it is declared (from an onRoute hook), so that only the routes a
// plugin applies to pay for it. A route's hooks of one kind run after the instance's, in the
// order of the route's list: `first` puts the hook in front of those other plugins added
// before, `last` behind them.
import type { RouteOptions } from 'fastify';

type HookName = 'onRequest' | 'preValidation' | 'preHandler' | 'onSend';

export function addRouteHook(route: RouteOptions, name: HookName, hook: unknown, where: 'first' | 'last'): void {
  const current = route[name];
  const hooks = current === undefined ? [] : [current].flat();
  route[name] = (where === 'first' ? [hook, ...hooks] : [...hooks, hook]) as never;
}
