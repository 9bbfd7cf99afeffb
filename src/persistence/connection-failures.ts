// Telling "the database could not be reached" from "a statement was wrong": the first makes the
// server answer 503 and watch for the database's return, the second is the statement's own error.

/** A statement that got no answer within its deadline; its connection has been closed. */
export class QueryDeadlineError extends Error {
  override name = 'QueryDeadlineError';
  constructor(deadlineMs: number, cause: unknown) {
    super(`the database is unreachable: no answer within ${deadlineMs} ms`, { cause });
  }
}

/** Node's and PostgreSQL's ways of saying "no connection", as opposed to a failed statement. */
const CONNECTION_ERROR_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN',
  '08000', '08001', '08003', '08004', '08006', // connection exceptions
  '53300', // too many connections
  '57P01', '57P02', '57P03', // the server is shutting down or starting up
]);
const CONNECTION_ERROR_MESSAGES = /timeout exceeded when trying to connect|timeout expired|Connection terminated|Client has encountered a connection error|database is unreachable/i;

/** True when `error` means the database could not be reached, rather than that a query was wrong. */
export function isConnectionFailure(error: unknown): boolean {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    if (e instanceof QueryDeadlineError) return true;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECTION_ERROR_CODES.has(code)) return true;
    if (CONNECTION_ERROR_MESSAGES.test(e.message)) return true;
  }
  return false;
}
