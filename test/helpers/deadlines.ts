// How long the tests wait for what a busy machine slows down most. These are deadlines for
// something to happen at all, not measures of speed (`npm run bench` measures speed): a server
// process starts in about 3 s alone (10 s with an embedded PostgreSQL's initdb), but many times
// that while other test files, or another copy of the suite, share the two cores.

/** A server process, with or without an embedded PostgreSQL to create, until it listens. */
export const START_MS = 180_000;
