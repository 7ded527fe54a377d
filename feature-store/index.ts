/**
 * The public entry of the feature store: definitions as code, the FeatureStore facade, and the
 * building blocks the serving layer, the trainers and the CLI share with it (feature refs, entity
 * keys, columns). Code outside feature-store/ imports from here only (eslint enforces it; tests and
 * benchmarks may reach inside to exercise internals).
 */

// Definitions as code
export { defineEntity } from './definitions/entity.js';
export { defineFeatureView } from './definitions/feature-view.js';
export { defineOnDemandView, onDemandFeatureFields } from './definitions/on-demand-view.js';
export type { OnDemandInput, OnDemandViewDefinition } from './definitions/on-demand-view.js';
export type {
  AggregationSpec,
  Column,
  EntityDefinition,
  FeatureField,
  FeatureFrame,
  FeatureType,
  FeatureViewDefinition,
  QuarantinedRow,
  SourceDefinition,
  TimeRange,
  WindowTransform,
} from './definitions/types.js';
export { InvalidInputError } from './definitions/errors.js';
export { parseDuration } from './definitions/duration.js';
export { canonicalJson, diffDefinitions } from './definitions/fingerprint.js';
export { assertIdentifier } from './definitions/identifiers.js';
export { durationSchema, featureTypeSchema, sourceSchema } from './definitions/schemas.js';
export { parseIsoTimestamp, parseTimestampText } from './definitions/timestamp-text.js';

// The facade
export { createFeatureStore, type FeatureStore, type FeatureStoreOptions } from './store.js';
export type { Definitions } from './registry/apply.js';
export type { ApplyResult, ApplyStatus, OnDemandVersion, ViewVersion } from './registry/types.js';
export type { RegisteredView, ViewResolver } from './registry/resolver.js';

// Materialization
export { MATERIALIZATION_CHANNEL, type ChunkResult } from './materialization/chunk.js';
export {
  erasedKeyHashes,
  erasedKeyMatcher,
  erasedSourceRowMatcher,
  erasureKeyHashes,
} from './erasure/erased-keys.js';
export type { ViewErasure } from './erasure/erase-views.js';
export type { ViewPurge } from './erasure/purge-views.js';
export type { TrainingSetErasure } from './erasure/erase-training-sets.js';
export { planChunks } from './materialization/plan.js';
export type { ChunkState } from './materialization/staleness.js';
export { isUsableTime, SourceError, type SourceErrorCode } from './sources/source-data.js';
// Building blocks for other keyed, chunked readers of sources (label ingestion): the same validation,
// key spelling, quarantine reasons and change detection as materialization.
export { prepareRows, QUARANTINE_REASON, type PreparedRows } from './materialization/row-preparation.js';
export { fingerprintRows } from './materialization/source-fingerprint.js';
export {
  CURRENT_KEY_ENCODING,
  entityKeyOverLimit,
  joinEntityKeys,
  MAX_ENTITY_KEY_BYTES,
} from './definitions/entity-keys.js';

// Online store
export { onlineStatus, queryOnlineRows, type OnlineRow, type OnlineStatus } from './online/online-store.js';

// Feature refs, request keys and on-demand features (shared with serving)
export {
  featureColumnName,
  groupRefsByView,
  isFeatureRef,
  parseFeatureRefs,
  parseViewRef,
  pinnedFeatureColumns,
  type FeatureRef,
  type ViewRefs,
} from './refs/feature-ref.js';
export {
  EntityKeyError,
  entityKeyText,
  keyedEntities,
  requestKeys,
  type EntityKeyValue,
  type KeyedEntity,
} from './refs/request-keys.js';
export { assertOnDemandInputs, featureOf } from './refs/resolve.js';
export { computeRequestedOnDemand, RequestFieldError, type ResolvedOnDemand } from './on-demand/compute.js';

// Point in time
export type { HistoricalFeatures, HistoricalRequest } from './point-in-time/historical.js';
export type {
  TimeSplit,
  TrainingSetManifest,
  TrainingSetPlan,
  TrainingSetRequest,
} from './point-in-time/training-set.js';
export type { SpineSpec } from './point-in-time/spine.js';

// Columns and files shared with trainers, models and examples
export { decodeVector, eventTimesFromColumn, rawToColumn } from './sources/columnar.js';
export {
  columnToVector,
  copyTimestampMs,
  emptyColumn,
  FEATURE_CODECS,
  isoTime,
  type FeatureCodec,
} from './columns/codecs.js';
export type { RawColumn, SourceData } from './sources/source-data.js';
export { Utf8Interner } from './columns/copy-buffers.js';
export { clearSourceCache, openSource } from './sources/index.js';
export { rawColumnToVector, utf8Vector } from './columns/arrow-columns.js';
export { gatherColumn } from './point-in-time/join.js';
export { writeArrowFileAtomic, writeFileAtomic } from './offline/atomic-file.js';
export { COPY_HEADER, COPY_TRAILER, CopyBinaryWriter } from './offline/copy-binary.js';
