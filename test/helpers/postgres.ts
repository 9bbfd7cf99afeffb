// The PostgreSQL plumbing shared by the test run, the test helpers and the benchmark: free
// ports, database URLs on one server, one-off admin statements, and per-test databases cloned
// from the template that test/run.ts migrates.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import pg from 'pg';

/**
 * A TCP port nothing listens on right now (on 127.0.0.1), to hand to a server started later (and
 * perhaps again, after a restart): below the kernel's range of ephemeral ports, from which every
 * outgoing connection takes its local port. A port that `listen(0)` gives is in that range, and
 * a client socket of a test running beside may take it between this check and the server's
 * listen (the local topology's social server once failed to start so, with EADDRINUSE, in CI).
 */
export async function freePort(): Promise<number> {
  const [ephemeralLow] = ephemeralPorts();
  const bottom = 20_000;
  const top = Math.min(ephemeralLow, 32_768) - 1;
  for (let attempt = 0; top > bottom && attempt < 100; attempt++) {
    const port = bottom + Math.floor(Math.random() * (top - bottom + 1));
    if (await canListen(port)) return port;
  }
  // No such range here: the kernel's choice.
  return new Promise((ok, fail) => {
    const server = createServer();
    server.once('error', fail);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => ok(port));
    });
  });
}

/** The kernel's range of ephemeral ports (Linux's; elsewhere, IANA's). */
function ephemeralPorts(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (Number.isInteger(low) && Number.isInteger(high)) return [low!, high!];
  } catch {
    // not Linux
  }
  return [49_152, 65_535];
}

function canListen(port: number): Promise<boolean> {
  const server = createServer();
  return new Promise((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** The URL of database `name` on the server `serverUrl` points at. */
export function databaseUrl(serverUrl: string, name: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Runs one statement on its own connection (`create database` cannot run in a pool's transaction). */
export async function runAdmin(serverUrl: string, sql: string): Promise<Record<string, unknown>[]> {
  const client = new pg.Client({ connectionString: serverUrl });
  await client.connect();
  try {
    return (await client.query(sql)).rows;
  } finally {
    await client.end();
  }
}

/** A fresh database cloned from the migrated template of this `npm test` run. */
export async function cloneTemplate(): Promise<{ url: string; drop: () => Promise<void> }> {
  return newDatabase(true);
}

/** A fresh database with nothing of Agora's in it: no schema, no migration applied. */
export async function createEmptyDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  return newDatabase(false);
}

async function newDatabase(migrated: boolean): Promise<{ url: string; drop: () => Promise<void> }> {
  const adminUrl = process.env.AGORA_TEST_ADMIN_URL;
  const template = process.env.AGORA_TEST_TEMPLATE;
  if (!adminUrl || !template) throw new Error('run the tests with `npm test` (test/run.ts prepares the database)');
  const database = `agora_test_${randomBytes(6).toString('hex')}`;
  await runAdmin(adminUrl, `create database "${database}"${migrated ? ` template "${template}"` : ''}`);
  return {
    url: databaseUrl(adminUrl, database),
    drop: async () => void (await runAdmin(adminUrl, `drop database if exists "${database}" with (force)`)),
  };
}
