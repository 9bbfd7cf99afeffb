// The idempotency domain's table, in its own `idempotency` PostgreSQL schema: one row per
// finished keyed request, written in the transaction of the request itself.
import { defineEntity, p } from '@mikro-orm/core';
import { notifyingTrigger } from '../triggers.ts';

export const IdempotencyRecordEntity = defineEntity({
  name: 'IdempotencyRecord',
  schema: 'idempotency',
  tableName: 'record',
  properties: {
    // Who sent the key: an account id, or `anonymous`.
    scope: p.string().length(64).primary(),
    // The operationId the key was used with.
    operation: p.string().length(100).primary(),
    key: p.string().length(255).primary(),
    // SHA-256 (hex) of the request's method, path, query and canonical body.
    fingerprint: p.string().length(64),
    responseStatus: p.integer(),
    responseHeaders: p.json<Record<string, string>>(),
    // The response body as JSON text (kept as sent, so a replay is the same document).
    responseBody: p.text().nullable(),
    createdAt: p.datetime(),
    expiresAt: p.datetime().index('record_expires_at_index'),
  },
  // Invalidate the replays every instance keeps in memory (Migration20261202140000).
  triggers: [notifyingTrigger('idempotency', 'record', 'record_gone', 'delete'), notifyingTrigger('idempotency', 'record', 'record_changed', 'update')],
});

export const idempotencyEntities = [IdempotencyRecordEntity];
