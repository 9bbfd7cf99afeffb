import { Migration } from '@mikro-orm/migrations';

// The claim of an idempotency key (src/persistence/idempotency/store.ts), as a function: it runs
// in the keyed request's transaction, sent with its BEGIN in front of the request's first write,
// and must stop that write when the key is busy, which only an error can do in one round trip.
// It sets the lease (the transaction's idle and statement timeouts), takes the key's
// transaction-level advisory lock without waiting, failing with lock_not_available (55P03,
// constraint `idempotency_key_in_flight`) when another transaction holds it, and, holding it,
// deletes the key's expired record (the record written at the end is a plain INSERT).
export class Migration20261202120000 extends Migration {

  override name = 'Migration20261202120000';

  override up(): void | Promise<void> {
    this.addSql(`create function "idempotency"."claim"(lease text, lock_name text, key_scope text, key_operation text, key_key text, at timestamptz) returns void
language plpgsql as $$
begin
  perform set_config('idle_in_transaction_session_timeout', lease, true);
  perform set_config('statement_timeout', lease, true);
  if not pg_try_advisory_xact_lock(hashtextextended(lock_name, 0)) then
    raise exception 'idempotency key in flight' using errcode = 'lock_not_available', constraint = 'idempotency_key_in_flight';
  end if;
  delete from idempotency.record r
   where r.scope = key_scope and r.operation = key_operation and r.key = key_key and r.expires_at <= at;
end
$$;`);
  }

  override down(): void | Promise<void> {
    this.addSql(`drop function if exists "idempotency"."claim"(text, text, text, text, text, timestamptz);`);
  }

}
