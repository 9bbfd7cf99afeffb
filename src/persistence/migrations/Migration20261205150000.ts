import { Migration } from '@mikro-orm/migrations';

// The claim of an idempotency key (src/persistence/idempotency/store.ts), now also the key's
// test for a finished request, so that a keyed request may send its claim first, with the BEGIN
// in front of its first write, and no lookup before it. A live record of the key makes the claim
// fail as the record's INSERT would have at the end, with a unique violation of `record_pkey`
// (23505), which stops the write sent with it; the request is then answered from the record (an
// instance still running the code before this reads the refusal as it read the INSERT's).
// The record is looked for before the lock is tried, so that concurrent retries of a finished
// request never refuse each other as in flight; and again once the lock is held and the key's
// expired record deleted, for a first request that committed in between. The rest is
// Migration20261202120000's: the lease, and the lock taken without waiting.
/** The key's live record refuses the claim (spelled here, not shared: a migration stays as written). */
const REFUSE_FINISHED = `raise exception 'idempotency key finished' using errcode = 'unique_violation', constraint = 'record_pkey', schema = 'idempotency', table = 'record';`;
const OF_THE_KEY = 'r.scope = key_scope and r.operation = key_operation and r.key = key_key';

/** The function, with `beforeLock` and `afterLock` run before the lock is tried and once it is held. */
function claim(beforeLock: string, afterLock: string): string {
  return `create or replace function "idempotency"."claim"(lease text, lock_name text, key_scope text, key_operation text, key_key text, at timestamptz) returns void
language plpgsql as $$
begin
  perform set_config('idle_in_transaction_session_timeout', lease, true);
  perform set_config('statement_timeout', lease, true);${beforeLock}
  if not pg_try_advisory_xact_lock(hashtextextended(lock_name, 0)) then
    raise exception 'idempotency key in flight' using errcode = 'lock_not_available', constraint = 'idempotency_key_in_flight';
  end if;
  delete from idempotency.record r
   where ${OF_THE_KEY} and r.expires_at <= at;${afterLock}
end
$$;`;
}

export class Migration20261205150000 extends Migration {

  override name = 'Migration20261205150000';

  override up(): void | Promise<void> {
    this.addSql(claim(
      `
  if exists (select 1 from idempotency.record r where ${OF_THE_KEY} and r.expires_at > at) then
    ${REFUSE_FINISHED}
  end if;`,
      `
  if exists (select 1 from idempotency.record r where ${OF_THE_KEY}) then
    ${REFUSE_FINISHED}
  end if;`,
    ));
  }

  override down(): void | Promise<void> {
    // Migration20261202120000's function: no look for the record.
    this.addSql(claim('', ''));
  }

}
