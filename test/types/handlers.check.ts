// Compile-time tests, run by `npm run typecheck`: a handler must return only what the contract
// declares for its operation. Each @ts-expect-error fails the type check if the error vanishes.
import type { Handler, Handlers } from '../../src/handlers/operations.ts';

const account = {
  id: '01a20a21-4c2b-7441-8746-a768807f76b6',
  handle: 'ada',
  displayName: 'Ada',
  bio: null,
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
  version: 0,
};

export const declared: Handler<'getAccount'> = async () => ({ status: 200, body: account });

// @ts-expect-error 201 is not a status getAccount declares
export const undeclaredStatus: Handler<'getAccount'> = async () => ({ status: 201, body: account });

// @ts-expect-error `version` is an integer in the contract
export const wrongType: Handler<'getAccount'> = async () => ({ status: 200, body: { ...account, version: '1' } });

// @ts-expect-error `handle` is required by the contract
export const missingField: Handler<'getAccount'> = async () => ({ status: 200, body: { ...account, handle: undefined } });

// @ts-expect-error a 204 carries no body
export const bodyOn204: Handler<'deleteAccount'> = async () => ({ status: 204, body: account });

// @ts-expect-error every operation in the spec needs a handler
export const incomplete: Handlers = { getAccount: declared };
