// Notices (src/persistence/notices.ts): notifications sent after a commit, gathered, one
// statement in flight at a time; and notifyOnCommit's three cases.
import t from 'tap';
import { Notices, NOTICES_SQL, notifyIdsOnCommit, notifyOnCommit, type NoticesOptions } from '../src/persistence/notices.ts';
import { wakePayloads } from '../src/persistence/stream-rows.ts';

/** A Notices whose statements are recorded, and answered when the test says so. */
function recorded(options?: NoticesOptions) {
  const sent: { channels: string[]; payloads: string[] }[] = [];
  const answers: { resolve: () => void; reject: (error: Error) => void }[] = [];
  const errors: { error: unknown; lost: number }[] = [];
  const notices = new Notices(
    (sql, [channels, payloads]) => {
      if (sql !== NOTICES_SQL) throw new Error(`unexpected statement ${sql}`);
      sent.push({ channels, payloads });
      return new Promise<void>((resolve, reject) => answers.push({ resolve, reject }));
    },
    (error, lost) => errors.push({ error, lost }),
    options,
  );
  return { notices, sent, answers, errors };
}

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

t.test("one turn's notifications go in one statement, each (channel, payload) once", async (t) => {
  const { notices, sent, answers } = recorded();
  notices.add('a', ['w:1', 'w:2']);
  notices.add('b', ['events.x']);
  notices.add('a', ['w:1']);
  t.same(sent, [], 'nothing is sent in the same turn');
  await turn();
  t.same(sent, [{ channels: ['a', 'a', 'b'], payloads: ['w:1', 'w:2', 'events.x'] }]);
  answers[0]!.resolve();
  await notices.settled();
  t.equal(sent.length, 1, 'nothing more');
});

t.test('what comes while a statement is in flight goes in the next one, gathered', async (t) => {
  const { notices, sent, answers } = recorded();
  notices.add('a', ['1']);
  await turn();
  t.equal(sent.length, 1);
  for (let i = 2; i <= 5; i++) notices.add('a', [String(i)]);
  notices.add('a', ['1']);
  await turn();
  t.equal(sent.length, 1, 'the first is still in flight: no second statement');
  let settled = false;
  void notices.settled().then(() => (settled = true));
  answers[0]!.resolve();
  await turn();
  t.same(sent[1], { channels: ['a', 'a', 'a', 'a', 'a'], payloads: ['2', '3', '4', '5', '1'] }, 'the next, with everything added meanwhile (the first payload again: it had gone)');
  t.notOk(settled, 'not settled while the second is in flight');
  answers[1]!.resolve();
  await notices.settled();
  t.ok(settled);
});

t.test('a failed statement is reported with how many were lost; the next ones still go', async (t) => {
  const { notices, sent, answers, errors } = recorded();
  notices.add('a', ['1', '2']);
  await turn();
  notices.add('a', ['3']);
  answers[0]!.reject(new Error('connection terminated'));
  await turn();
  await turn();
  t.equal(errors.length, 1);
  t.match(errors[0], { error: { message: 'connection terminated' }, lost: 2 });
  t.same(sent[1], { channels: ['a'], payloads: ['3'] });
  answers[1]!.resolve();
  await notices.settled();
});

t.test('at most 500 a statement', async (t) => {
  const { notices, sent, answers } = recorded();
  notices.add('a', Array.from({ length: 1200 }, (_, i) => String(i)));
  await turn();
  t.equal(sent[0]!.payloads.length, 500);
  answers[0]!.resolve();
  await turn();
  t.equal(sent[1]!.payloads.length, 500);
  answers[1]!.resolve();
  await turn();
  t.same(sent[2]!.payloads, Array.from({ length: 200 }, (_, i) => String(1000 + i)));
  answers[2]!.resolve();
  await notices.settled();
  t.equal(sent.length, 3);
});

t.test('settled resolves at once when nothing is pending', async (t) => {
  const { notices } = recorded();
  await notices.settled();
  t.pass();
});

t.test('notifyOnCommit: after a pool write, at once; after a unit of work, at its commit; inside a job transaction', async (t) => {
  const { notices, sent, answers } = recorded();
  const pool = { query: async () => [] };
  await notifyOnCommit(notices, pool, 'c', ['p1']);
  await turn();
  t.same(sent, [{ channels: ['c'], payloads: ['p1'] }], 'the pool: its statement has committed');
  answers[0]!.resolve();
  await notices.settled();

  const callbacks: (() => void)[] = [];
  const uow = { transaction: true as const, query: async () => [], afterCommit: (callback: () => void) => void callbacks.push(callback) };
  await notifyOnCommit(notices, uow, 'c', ['p2']);
  await turn();
  t.equal(sent.length, 1, 'nothing before the commit');
  callbacks.forEach((callback) => callback());
  await turn();
  t.same(sent[1], { channels: ['c'], payloads: ['p2'] }, 'sent once committed');
  answers[1]!.resolve();
  await notices.settled();

  const statements: { sql: string; params: readonly unknown[] | undefined }[] = [];
  const job = { transaction: true as const, query: async (sql: string, params?: readonly unknown[]) => void statements.push({ sql, params }) };
  await notifyOnCommit(notices, job, 'c', ['p3', 'p4']);
  t.same(statements, [{ sql: NOTICES_SQL, params: [['c', 'c'], ['p3', 'p4']] }], 'in the transaction, delivered at its commit');
  await turn();
  t.equal(sent.length, 2, 'not through the notices');

  await notifyOnCommit(notices, pool, 'c', []);
  await turn();
  t.equal(sent.length, 2, 'no payloads, nothing sent');
});

t.test("wakePayloads: each account once, at most 100 a payload (PostgreSQL's payloads are under 8,000 bytes)", async (t) => {
  const ids = Array.from({ length: 250 }, (_, i) => `00000000-0000-7000-8000-${String(i).padStart(12, '0')}`);
  const payloads = wakePayloads([...ids, ids[0]!]);
  t.equal(payloads.length, 3);
  t.ok(payloads.every((p) => p.startsWith('w:') && p.length < 8000));
  t.same(payloads.flatMap((p) => p.slice(2).split(',')), ids, 'every account, once, in order');
  t.same(wakePayloads([]), [], 'none: no payload');
});

t.test("ids added on one topic go joined, each once, at most perPayload a payload, beside the other payloads", async (t) => {
  const { notices, sent, answers } = recorded();
  notices.addIds('a', 'w', ['1', '2'], 3);
  notices.add('a', ['events.x']);
  notices.addIds('a', 'w', ['2', '3', '4'], 3);
  notices.addIds('b', 'w', ['1'], 3);
  notices.addIds('a', 'n', ['9'], 3);
  await turn();
  t.same(sent, [
    {
      channels: ['a', 'a', 'b', 'a', 'a'],
      payloads: ['w:1,2,3', 'w:4', 'w:1', 'n:9', 'events.x'],
    },
  ], 'one statement: the ids of a channel and topic joined, in order, the duplicate once');
  notices.addIds('a', 'w', ['1'], 3);
  answers[0]!.resolve();
  await turn();
  t.same(sent[1], { channels: ['a'], payloads: ['w:1'] }, 'an id sent before goes again when added again');
  answers[1]!.resolve();
  await notices.settled();
  notices.addIds('a', 'w', [], 3);
  await turn();
  t.equal(sent.length, 2, 'no ids, nothing sent');
});

t.test('joined ids count toward the 500 payloads a statement; the rest go in the next', async (t) => {
  const { notices, sent, answers } = recorded();
  notices.addIds('a', 'w', Array.from({ length: 1003 }, (_, i) => String(i)), 2);
  notices.add('a', ['events.x']);
  await turn();
  t.equal(sent[0]!.payloads.length, 500);
  t.equal(sent[0]!.payloads[499], 'w:998,999');
  answers[0]!.resolve();
  await turn();
  t.same(sent[1]!.payloads, ['w:1000,1001', 'w:1002', 'events.x']);
  answers[1]!.resolve();
  await notices.settled();
  t.equal(sent.length, 2);
});

t.test('spaced: the next statement goes no sooner than spacingMs after the one before, with what came meanwhile', async (t) => {
  let now = 1000;
  // The wait is the spacing left by the test's clock, waited on the real one: wide enough that a
  // busy machine's slow turns of the event loop do not reach it.
  const { notices, sent, answers } = recorded({ spacingMs: 400, now: () => now });
  notices.addIds('a', 'w', ['1'], 100);
  await turn();
  t.equal(sent.length, 1, 'the first goes at once');
  notices.addIds('a', 'w', ['2'], 100);
  answers[0]!.resolve();
  now += 100;
  await turn();
  await turn();
  t.equal(sent.length, 1, 'the next waits: 100 ms have passed of 400');
  notices.addIds('a', 'w', ['3'], 100);
  for (let waited = 0; sent.length < 2 && waited < 5000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
  t.same(sent[1], { channels: ['a'], payloads: ['w:2,3'] }, 'then goes, with what was added while it waited');
  answers[1]!.resolve();
  await notices.settled();

  now += 1000;
  notices.add('a', ['x']);
  await turn();
  t.same(sent[2], { channels: ['a'], payloads: ['x'] }, 'after a quiet spell, at once');
  answers[2]!.resolve();
  await notices.settled();
});

t.test('notifyIdsOnCommit: joined through the notices after a pool write or a commit; inside a job transaction, in payloads of perPayload ids', async (t) => {
  const { notices, sent, answers } = recorded();
  const pool = { query: async () => [] };
  const callbacks: (() => void)[] = [];
  const uow = { transaction: true as const, query: async () => [], afterCommit: (callback: () => void) => void callbacks.push(callback) };
  await notifyIdsOnCommit(notices, pool, 'c', 'w', ['1', '2'], 100);
  await notifyIdsOnCommit(notices, uow, 'c', 'w', ['3'], 100);
  await turn();
  t.same(sent, [{ channels: ['c'], payloads: ['w:1,2'] }], "the pool's at once; the unit of work's not before its commit");
  callbacks.forEach((callback) => callback());
  answers[0]!.resolve();
  await turn();
  t.same(sent[1], { channels: ['c'], payloads: ['w:3'] });
  answers[1]!.resolve();
  await notices.settled();

  const statements: { sql: string; params: readonly unknown[] | undefined }[] = [];
  const job = { transaction: true as const, query: async (sql: string, params?: readonly unknown[]) => void statements.push({ sql, params }) };
  await notifyIdsOnCommit(notices, job, 'c', 'w', ['4', '5', '6', '4'], 2);
  t.same(statements, [{ sql: NOTICES_SQL, params: [['c', 'c'], ['w:4,5', 'w:6']] }], 'in the transaction, delivered at its commit');
  await notifyIdsOnCommit(notices, pool, 'c', 'w', [], 2);
  await turn();
  t.equal(sent.length, 2, 'not through the notices; no ids, nothing');
});
