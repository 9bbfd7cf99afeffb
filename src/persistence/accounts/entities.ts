// The accounts domain's tables, all in the `accounts` PostgreSQL schema.
import { defineEntity, p } from '@mikro-orm/core';
import { notifyingTrigger } from '../triggers.ts';

const accountsTrigger = (table: string, name: string, event: 'update' | 'delete') => notifyingTrigger('accounts', table, name, event);

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
  triggers: [accountsTrigger('account', 'account_gone', 'delete'), accountsTrigger('account', 'account_changed', 'update')],
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
  triggers: [accountsTrigger('session', 'session_gone', 'delete'), accountsTrigger('session', 'session_changed', 'update')],
});

export const accountsEntities = [AccountEntity, SessionEntity];
