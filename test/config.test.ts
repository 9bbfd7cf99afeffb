// The environment is validated at start-up: a bad value stops the server, naming the variable.
import t from 'tap';
import { loadConfig } from '../src/config.ts';

t.test('DATABASE_QUERY_TIMEOUT_MS: the deadline of every SQL statement, 5 s unless set', async (t) => {
  t.equal(loadConfig({}).databaseQueryTimeoutMs, 5000);
  t.equal(loadConfig({ DATABASE_QUERY_TIMEOUT_MS: '1500' }).databaseQueryTimeoutMs, 1500);
  for (const bad of ['abc', '-1', '1.5', '99', '600001']) {
    t.throws(() => loadConfig({ DATABASE_QUERY_TIMEOUT_MS: bad }), { name: 'ConfigError' }, bad);
    t.throws(() => loadConfig({ DATABASE_QUERY_TIMEOUT_MS: bad }), /DATABASE_QUERY_TIMEOUT_MS/, bad);
  }
});
