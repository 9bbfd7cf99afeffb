// The events the accounts domain publishes (see ../events.ts), with what they carry.

/** An account was deleted; other domains remove what belonged to it. */
export interface AccountClosed {
  accountId: string;
}

declare module '../events.ts' {
  interface DomainEventMap {
    'account.closed': AccountClosed;
  }
}
