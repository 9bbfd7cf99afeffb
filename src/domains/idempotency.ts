// Idempotency keys: requests run at most once per key (schema `idempotency`). It serves no
// operation of its own: the HTTP layer runs every `x-idempotent` operation through it.
import { Migration20261123211530 } from '../persistence/migrations/Migration20261123211530.ts';
import { Migration20261202120000 } from '../persistence/migrations/Migration20261202120000.ts';
import { Migration20261202140000 } from '../persistence/migrations/Migration20261202140000.ts';
import { Migration20261205150000 } from '../persistence/migrations/Migration20261205150000.ts';
import { Migration20261207090000 } from '../persistence/migrations/Migration20261207090000.ts';
import { idempotencyEntities } from '../persistence/idempotency/index.ts';
import { createIdempotencyDomain } from '../services/idempotency/index.ts';
import { defineDomain } from './domain.ts';

export const idempotency = defineDomain({
  name: 'idempotency',
  needs: [],
  entities: idempotencyEntities,
  migrations: { Migration20261123211530, Migration20261202120000, Migration20261202140000, Migration20261205150000, Migration20261207090000 },
  cacheTopics: ['i'],
  create: ({ database, config, caching }) =>
    createIdempotencyDomain(database, { ...config.idempotency, cacheBytes: config.idempotency.cacheMb * 1024 * 1024 }, caching),
});
