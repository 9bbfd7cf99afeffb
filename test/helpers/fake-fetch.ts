// Fake fetches for the SDK's tests, which need no server.

/**
 * Requests `hangingFetch` has not answered yet. A real fetch holds its request while it is in
 * flight; without this, a request that only a hanging promise refers to can be garbage-collected,
 * and with it the signal that was to abort it (undici links a request's signal to the caller's
 * through a weak reference): a timeout would then abort nothing, and the test would end early.
 */
const unanswered = new Set<Request>();

/** A fetch that never answers; it rejects with the signal's reason when the attempt is aborted. */
export function hangingFetch(request: Request): Promise<Response> {
  return new Promise<Response>((_, reject) => {
    unanswered.add(request);
    request.signal.addEventListener(
      'abort',
      () => {
        unanswered.delete(request);
        reject(request.signal.reason);
      },
      { once: true },
    );
  });
}
