// The cache-invalidation triggers (see invalidations.ts), as entities declare them so that the
// schema check knows them. Their functions, and the triggers themselves, are made by migrations
// (Migration20261124000000 for accounts, Migration20261124020000 for channels,
// Migration20261202140000 for idempotency, Migration20261202220000 for the feed pages,
// Migration20261203120000 for posts).

const TRANSITION = { insert: 'new table as added', update: 'old table as before_rows new table as after_rows', delete: 'old table as gone' };

/**
 * A statement-level trigger `<name>` after `event` on `<schema>.<table>`, running the function of
 * the same name in `functionSchema` (the table's own schema unless given).
 */
export function notifyingTrigger(schema: string, table: string, name: string, event: 'insert' | 'update' | 'delete', functionSchema = schema) {
  return {
    name,
    timing: 'after' as const,
    events: [event],
    forEach: 'statement' as const,
    expression: `create trigger "${name}" after ${event} on "${schema}"."${table}" referencing ${TRANSITION[event]} for each statement execute function "${functionSchema}"."${name}"();`,
  };
}
