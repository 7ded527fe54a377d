/**
 * The feature store's light entry: what a process needs to describe work for workers — parse feature
 * refs, durations and times, spell a request canonically — and the request and manifest types,
 * without loading the store itself (Arrow, Postgres, sources, on-demand bundling). The CLI imports
 * this to start a training-set workflow in a fraction of the time index.ts takes to load. Everything
 * here is also exported by index.ts, the library's main entry.
 */
export { InvalidInputError } from './definitions/errors.js';
export { parseDuration } from './definitions/duration.js';
export { canonicalJson } from './definitions/fingerprint.js';
export { parseIsoTimestamp } from './definitions/timestamp-text.js';
export { parseFeatureRefs, parseViewRef, type FeatureRef } from './refs/feature-ref.js';
export type { SpineSpec } from './point-in-time/spine.js';
export type { TimeSplit, TrainingSetManifest, TrainingSetRequest } from './point-in-time/training-set.js';
