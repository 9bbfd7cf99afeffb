// The cache-invalidation triggers (see invalidations.ts), as entities declare them so that the
// schema check knows them. Their functions, and the triggers themselves, are made by migrations
// (Migration20261124000000 for accounts, Migration20261124020000 for channels,
// Migration20261202140000 for idempotency).

/** A statement-level trigger `<schema>.<name>` after `event` on `<schema>.<table>`, running the function of the same name. */
export function notifyingTrigger(schema: string, table: string, name: string, event: 'update' | 'delete') {
  const transition = event === 'delete' ? 'old table as gone' : 'old table as before_rows new table as after_rows';
  return {
    name,
    timing: 'after' as const,
    events: [event],
    forEach: 'statement' as const,
    expression: `create trigger "${name}" after ${event} on "${schema}"."${table}" referencing ${transition} for each statement execute function "${schema}"."${name}"();`,
  };
}
