// The accounts domain: accounts and their sessions (schema `accounts`).
import { accountsAllowedMethods, accountsHandlers } from '../handlers/accounts.ts';
import { sessionsAllowedMethods, sessionsHandlers } from '../handlers/sessions.ts';
import { Migration20261123203244 } from '../persistence/migrations/Migration20261123203244.ts';
import { Migration20261124000000 } from '../persistence/migrations/Migration20261124000000.ts';
import { accountsEntities } from '../persistence/accounts/index.ts';
import { createAccountsDomain } from '../services/accounts/index.ts';
import { accountsBinding, accountsContract, accountsStub } from '../remote/accounts.ts';
import { defineDomain } from './domain.ts';

export const accounts = defineDomain({
  name: 'accounts',
  needs: [],
  entities: accountsEntities,
  migrations: { Migration20261123203244, Migration20261124000000 },
  // Sessions that ended ("s"), account summaries that changed ("a"): Migration20261124000000's triggers.
  cacheTopics: ['s', 'a'],
  create: ({ database, config, events, log, caching }) =>
    createAccountsDomain(
      database,
      {
        maxPage: config.maxPage,
        sessionIdleTtlSeconds: config.session.idleTtlSeconds,
        sessionAbsoluteTtlSeconds: config.session.absoluteTtlSeconds,
      },
      events,
      log,
      caching,
    ),
  handlers: ({ accounts, sessions }) => ({
    v1: { ...accountsHandlers(accounts), ...sessionsHandlers(sessions) },
    allowedMethods: { ...accountsAllowedMethods(accounts), ...sessionsAllowedMethods() },
  }),
  // Served apart with SERVE_DOMAINS=accounts; used through the stub with ACCOUNTS_SERVICE_URL.
  // Closing an account then emits `account.closed` on the accounts server, whose domains (on the
  // same database) remove what was the account's before the request answers.
  remote: {
    contract: accountsContract,
    serve: ({ accounts, sessions }) => accountsBinding(accounts, sessions),
    stub: (client) => accountsStub(client),
  },
});
