// What carries the live streams (the stream domain, src/services/stream/) across instances, as
// the composition root hands it to the domains (src/domains/domain.ts, DomainContext.streams):
// wake-ups sent by PostgreSQL at the commit of a write, and the cap on streams per account held
// for every instance. The persistence layer's invalidation listener and StreamSlots provide them.

/** Where wake-ups come from (the persistence layer's invalidation listener satisfies it). */
export interface StreamWakes {
  /** Topic "w": the ids of accounts with new rows in a source. */
  on(topic: string, listener: (accountIds: string[]) => void): void;
  /** Wake-ups may have been missed. */
  onReset(listener: () => void): void;
}

/** The per-account cap on open streams (held across instances by the persistence layer's StreamSlots). */
export interface StreamSlotPool {
  acquire(accountId: string): Promise<{ release(): void } | undefined>;
}

export interface StreamTransport {
  wakes: StreamWakes;
  slots: StreamSlotPool;
}
