// The unit of work a keyed request's writes join, for the layers above persistence: services
// receive it as an argument and hand it to their store's writes; handlers pass it through
// without knowing what it is made of.
export type { UnitOfWork } from '../persistence/sql.ts';
