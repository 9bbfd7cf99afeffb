import { Migration } from '@mikro-orm/migrations';

// The claim of an idempotency key (Migration20261205150000) reads the key's record by its primary
// key alone, and never with a sequential scan, however small the table looked when the plan was
// made. PL/pgSQL keeps a plan for each of a function's statements per connection, and after five
// calls it keeps a generic one if that is no dearer. A table analyzed while empty (a new database,
// `vacuum analyze` after a restore or a seeding) is estimated at no pages: a sequential scan costs
// nothing then, and the connection kept it as the table grew, until autovacuum next analyzed the
// table. Each claim then read every record, three times: the bench's create-post fell from 680 to
// 148 requests/s over a minute and a half, PostgreSQL's time in the claim on CPU. So:
// - `enable_seqscan` is off for the function's statements (the function's own setting, restored
//   when it returns; the lease it sets stays for the transaction, as before);
// - the record is read by its key alone, so that no other index (`record_expires_at_index`) can
//   serve the statement, and its expiry compared in the function;
// - the expired record is deleted only when there is one. The DELETE ran at every claim before,
//   and with it `record_gone`'s statement trigger (Migration20261202140000), on no rows.
// Outcomes are unchanged: a live record refuses the claim as a unique violation of `record_pkey`
// (23505), looked for before the lock is tried and again once it is held; an expired one is
// deleted under the lock; a held lock is "in flight" (55P03).
const REFUSE_FINISHED = `raise exception 'idempotency key finished' using errcode = 'unique_violation', constraint = 'record_pkey', schema = 'idempotency', table = 'record';`;
const OF_THE_KEY = 'r.scope = key_scope and r.operation = key_operation and r.key = key_key';
const SIGNATURE = '"idempotency"."claim"(lease text, lock_name text, key_scope text, key_operation text, key_key text, at timestamptz) returns void';
const LEASE = `
  perform set_config('idle_in_transaction_session_timeout', lease, true);
  perform set_config('statement_timeout', lease, true);`;
const LOCK = `
  if not pg_try_advisory_xact_lock(hashtextextended(lock_name, 0)) then
    raise exception 'idempotency key in flight' using errcode = 'lock_not_available', constraint = 'idempotency_key_in_flight';
  end if;`;

export class Migration20261207090000 extends Migration {

  override name = 'Migration20261207090000';

  override up(): void | Promise<void> {
    this.addSql(`create or replace function ${SIGNATURE}
language plpgsql
set enable_seqscan = off
as $$
declare
  live_until timestamptz;
begin${LEASE}
  select r.expires_at into live_until from idempotency.record r where ${OF_THE_KEY};
  if found and live_until > at then
    ${REFUSE_FINISHED}
  end if;${LOCK}
  select r.expires_at into live_until from idempotency.record r where ${OF_THE_KEY};
  if found then
    if live_until > at then
      ${REFUSE_FINISHED}
    end if;
    delete from idempotency.record r where ${OF_THE_KEY};
  end if;
end
$$;`);
  }

  override down(): void | Promise<void> {
    // Migration20261205150000's function (`create or replace` gives a function the settings it
    // names, here none).
    this.addSql(`create or replace function ${SIGNATURE}
language plpgsql as $$
begin${LEASE}
  if exists (select 1 from idempotency.record r where ${OF_THE_KEY} and r.expires_at > at) then
    ${REFUSE_FINISHED}
  end if;${LOCK}
  delete from idempotency.record r
   where ${OF_THE_KEY} and r.expires_at <= at;
  if exists (select 1 from idempotency.record r where ${OF_THE_KEY}) then
    ${REFUSE_FINISHED}
  end if;
end
$$;`);
  }

}
