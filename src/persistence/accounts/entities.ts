// The accounts domain's tables, all in the `accounts` PostgreSQL schema.
import { defineEntity, p } from '@mikro-orm/core';

/**
 * The cache-invalidation triggers of Migration20261124000000 (see ../invalidations.ts),
 * declared so that the schema check knows them; their functions live in that migration.
 */
function notifyingTrigger(table: string, name: string, event: 'update' | 'delete') {
  const transition = event === 'delete' ? 'old table as gone' : 'old table as before_rows new table as after_rows';
  return {
    name,
    timing: 'after' as const,
    events: [event],
    forEach: 'statement' as const,
    expression: `create trigger "${name}" after ${event} on "accounts"."${table}" referencing ${transition} for each statement execute function "accounts"."${name}"();`,
  };
}

export const AccountEntity = defineEntity({
  name: 'Account',
  schema: 'accounts',
  tableName: 'account',
  properties: {
    id: p.uuid().primary(),
    // Stored lower-cased: emails are compared case-insensitively.
    email: p.string().length(254).unique('account_email_key'),
    handle: p.string().length(30),
    // lower(handle) with the "C" collation, so uniqueness ignores case and a
    // `LIKE 'prefix%'` filter can use the unique index.
    handleKey: p.string().length(30).collation('C').unique('account_handle_key_key'),
    displayName: p.string().length(80),
    bio: p.string().length(500).nullable(),
    passwordHash: p.text().lazy(),
    createdAt: p.datetime(),
    updatedAt: p.datetime(),
    version: p.integer(),
  },
  triggers: [notifyingTrigger('account', 'account_gone', 'delete'), notifyingTrigger('account', 'account_changed', 'update')],
});

export const SessionEntity = defineEntity({
  name: 'Session',
  schema: 'accounts',
  tableName: 'session',
  properties: {
    id: p.uuid().primary(),
    account: () => p.manyToOne(AccountEntity).deleteRule('cascade').index('session_account_id_index'),
    // SHA-256 of the bearer token, hex; the token itself is never stored.
    tokenHash: p.string().length(64).unique('session_token_hash_key'),
    createdAt: p.datetime(),
    lastUsedAt: p.datetime(),
    expiresAt: p.datetime(),
  },
  triggers: [notifyingTrigger('session', 'session_gone', 'delete'), notifyingTrigger('session', 'session_changed', 'update')],
});

export const accountsEntities = [AccountEntity, SessionEntity];
