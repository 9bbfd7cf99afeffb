// Timeouts, retries, cancellation, hooks for logging and tracing, and the errors of a request
// that got no response. Run it against a server:
//   AGORA_BASE_URL=http://127.0.0.1:3000/v1 node resilience.ts
import { randomBytes } from 'node:crypto';
// #region client
import { createAgoraClient, unwrap, AgoraConnectionError, AgoraTimeoutError, RateLimitedError, UnavailableError } from 'agora-sdk';

const baseUrl = process.env['AGORA_BASE_URL'] ?? 'http://127.0.0.1:3000/v1';
const agora = createAgoraClient({
  baseUrl,
  timeoutMs: 10_000, // per attempt; the default is 30 s
  retry: { attempts: 3, baseDelayMs: 200, maxDelayMs: 5_000, maxElapsedMs: 20_000 },
  hooks: {
    // Every attempt, retries included. onRequest may set headers, e.g. a W3C trace context.
    onRequest({ request, attempt }) {
      request.headers.set('traceparent', `00-${randomBytes(16).toString('hex')}-${randomBytes(8).toString('hex')}-01`);
      console.log(`→ ${request.method} ${new URL(request.url).pathname} (attempt ${attempt})`);
    },
    onResponse({ request, response, durationMs }) {
      console.log(`← ${response.status} ${request.method} ${new URL(request.url).pathname} in ${durationMs} ms (${response.headers.get('x-request-id')})`);
    },
    onRetry({ attempt, delayMs, response }) {
      console.log(`  retrying after attempt ${attempt} (${response?.status ?? 'no response'}) in ${Math.round(delayMs)} ms`);
    },
    onError({ error }) {
      console.log(`  no response: ${error instanceof Error ? error.message : String(error)}`);
    },
  },
});
// #endregion client

// #region cancel
// A deadline for a whole call, retries included, or cancellation from elsewhere: a signal.
const controller = new AbortController();
const call = agora.GET('/accounts', { params: { query: { limit: 5 } }, signal: controller.signal });
controller.abort(new Error('no longer needed'));
try {
  await call;
} catch (error) {
  console.log(`cancelled: ${(error as Error).message}`);
}
const accounts = await unwrap(agora.GET('/accounts', { params: { query: { limit: 5 } }, signal: AbortSignal.timeout(15_000) }));
console.log(`${accounts.data.length} accounts`);
// #endregion cancel

// #region no-response
// A server that cannot be reached: an AgoraConnectionError (AgoraTimeoutError after timeoutMs).
const unreachable = createAgoraClient({ baseUrl: 'http://127.0.0.1:9/v1', retry: { attempts: 2, baseDelayMs: 10 } });
try {
  await unwrap(unreachable.GET('/accounts'));
} catch (error) {
  if (error instanceof AgoraTimeoutError) console.log(`timed out after ${error.timeoutMs} ms`);
  else if (error instanceof AgoraConnectionError) console.log(`unreachable: ${error.method} ${error.url}`);
  else if (error instanceof RateLimitedError || error instanceof UnavailableError) console.log(`try again in ${error.retryAfterMs ?? 1000} ms`);
  else throw error;
}
// #endregion no-response
console.log('done');
