// The timelines domain's settings as src/domains/timelines.ts gives them by default (no feed pages kept), for the
// unit tests that build the service on a fake store (each overrides what it is about).
import type { TimelinesSettings } from '../../src/services/timelines/model.ts';

export const TIMELINES_SETTINGS: TimelinesSettings = {
  maxPage: 50,
  length: 400,
  wideFriends: 2000,
  fanOutIntervalMs: 100,
  freshMs: 5000,
  cachePages: 0,
  cacheBytes: 0,
  windowMs: 2000,
  graceMs: 60_000,
  forgetIntervalMs: 15_000,
  trimIntervalMs: 10_000,
  batch: 2000,
};
