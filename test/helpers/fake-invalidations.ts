// An invalidation source for unit tests of the caches (src/services/cache.ts): no listener, no database.
import type { InvalidationSource } from '../../src/services/cache.ts';

/** An invalidation source whose freshness, notifications and resets the test controls. */
export class FakeSource implements InvalidationSource {
  fresh = true;
  readonly #topics = new Map<string, ((ids: string[]) => void)[]>();
  readonly #resets: (() => void)[] = [];

  on(topic: string, listener: (ids: string[]) => void): void {
    this.#topics.set(topic, [...(this.#topics.get(topic) ?? []), listener]);
  }

  onReset(listener: () => void): void {
    this.#resets.push(listener);
  }

  async sync(): Promise<boolean> {
    return true;
  }

  notify(topic: string, ids: string[]): void {
    for (const listener of this.#topics.get(topic) ?? []) listener(ids);
  }

  reset(): void {
    for (const listener of this.#resets) listener();
  }
}
