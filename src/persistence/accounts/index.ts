// The accounts domain's persistence API: rows in, rows out. No business rules here.
export { AccountsStore } from './store.ts';
export type { AccountRow, AccountSummaryRow, NewAccountRow, ProfileChanges, SessionRow, ListAccountsQuery, WriteOutcome } from './store.ts';
export { accountsEntities } from './entities.ts';
