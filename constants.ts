/** Task queues, workflow-ID formats and activity-option profiles: the one place they are defined. */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import type { ActivityOptions } from '@temporalio/workflow';

export const TASK_QUEUES = {
  main: 'kaizen',
  gpu: 'kaizen-gpu',
} as const;

export const WORKFLOW_IDS = {
  materialize: (view: string, version: number, start: string, end: string) =>
    `materialize:${view}@v${version}:${start}:${end}`,
  scheduledMaterialize: (view: string) => `materialize-schedule:${view}`,
  trainingSet: (requestHash: string) => `training-set:${requestHash}`,
  trainingPipeline: (model: string, requestHash: string) => `train:${model}:${requestHash}`,
  batchScore: (model: string, requestHash: string) => `score:${model}:${requestHash}`,
  /** One window of a model's monitor (a re-run of the window replaces its results). */
  monitor: (model: string, startMs: number, endMs: number) =>
    `monitor:${model}:${new Date(startMs).toISOString()}:${new Date(endMs).toISOString()}`,
  scheduledMonitor: (model: string) => `monitor-schedule:${model}`,
  /** A run of a model's registered training pipeline as of a time: a repeated trigger of that time is a no-op. */
  retrain: (model: string, asOfMs: number) => `retrain:${model}:${new Date(asOfMs).toISOString()}`,
  scheduledTrain: (model: string) => `train-schedule:${model}`,
  /** One per model at a time: alerts arriving while it runs wait for the next window. */
  alertResponse: (model: string) => `respond:${model}`,
  /** A re-promotion attempt on a window, as of a response's time. */
  repromote: (model: string, startMs: number, endMs: number, asOfMs: number) =>
    `repromote:${model}:${new Date(startMs).toISOString()}:${new Date(endMs).toISOString()}@${new Date(asOfMs).toISOString()}`,
  /** An entity key's erasure, by a hash of the key (the key itself stays out of Temporal's visibility). */
  erase: (entity: string, keyHash: string) => `erase:${entity}:${keyHash.slice(0, 16)}`,
  retention: 'retention-schedule',
} as const;

export const SCHEDULE_IDS = {
  materialize: (view: string) => `materialize:${view}`,
  monitor: (model: string) => `monitor:${model}`,
  train: (model: string) => `train:${model}`,
  retention: 'retention',
} as const;

/** Custom search attributes registered on the Temporal namespace (dev server: at start-up). */
export const SEARCH_ATTRIBUTES = {
  featureView: 'KaizenFeatureView',
  model: 'KaizenModel',
} as const;

export const SEARCH_ATTRIBUTE_KEYS = {
  featureView: defineSearchAttributeKey(SEARCH_ATTRIBUTES.featureView, SearchAttributeType.KEYWORD),
  model: defineSearchAttributeKey(SEARCH_ATTRIBUTES.model, SearchAttributeType.KEYWORD),
  /** Set by Temporal on runs a Schedule starts: the time the run was scheduled for. */
  scheduledStartTime: defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME),
} as const;

/** What operators see on a materialization run in the Temporal UI (search attribute + memo). */
export function materializationVisibility(
  view: string,
  version: number,
  start: string,
  end: string,
  chunks: number,
) {
  return {
    typedSearchAttributes: [{ key: SEARCH_ATTRIBUTE_KEYS.featureView, value: `${view}@v${version}` }],
    memo: { view, version, start, end, chunks },
  };
}

/**
 * ApplicationFailure types of non-retryable activity failures (activities/errors.ts sets them from
 * typed errors); workflows and the CLI decide on these, never on message text.
 */
export const FAILURE_TYPES = {
  /** A request or definition that cannot succeed as given (unknown view, bad spine, bad gates). */
  invalidInput: 'INVALID_INPUT',
  /** A model or model version that does not exist, or an alias with no version behind it. */
  modelNotFound: 'MODEL_NOT_FOUND',
  /** A promotion's compare-and-set lost: the champion changed after the challenger was evaluated. */
  aliasConflict: 'ALIAS_CONFLICT',
  /** A registered artifact that no longer matches its hash. */
  artifactIntegrity: 'ARTIFACT_INTEGRITY',
  /** An external trainer that crashed or wrote no model. */
  trainerFailed: 'TrainerFailed',
  /** A retraining or re-promotion of a model while another of its runs is in flight. */
  runInFlight: 'RUN_IN_FLIGHT',
} as const;

export const ACTIVITY_PROFILES = {
  /** Registry look-ups and small writes. */
  short: {
    startToCloseTimeout: '1 minute',
    retry: { initialInterval: '1 second', maximumAttempts: 5 },
  },
  /**
   * Data work (materialization chunks, exports, training-set shards): heartbeat so a dead worker is
   * detected quickly and the work retried elsewhere.
   */
  data: {
    startToCloseTimeout: '30 minutes',
    heartbeatTimeout: '60 seconds',
    retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 10 },
  },
  /** Training: long, heartbeating, cancellable. */
  training: {
    startToCloseTimeout: '6 hours',
    heartbeatTimeout: '2 minutes',
    retry: { initialInterval: '10 seconds', maximumAttempts: 3 },
  },
} as const satisfies Record<string, ActivityOptions>;

/** Default materialization chunk length and fan-out bound (2 measured best on a 2-core host: bench:materialize). */
export const MATERIALIZATION = {
  chunkMs: 7 * 86_400_000,
  maxConcurrentChunks: 2,
  /**
   * How far behind the last committed chunk's end a schedule's run looks for chunks whose source rows
   * changed (late or corrected rows), to revise them. Checking a chunk reads and hashes its source
   * rows, so every run pays for the whole lookback. 14 days revise any row up to 14 days late
   * (flights land, labels and corrections come in within days) for the price of two weekly chunks
   * (measured on the flights views, source decoded: 6-9 ms a chunk, against 0.3-0.4 s for all 27 of
   * Jan-Jun 2001, a cost that would grow with the history every hour; a table source reads each
   * checked chunk's rows from Postgres). Older stale chunks stay listed by `kaizen status`.
   */
  staleLookback: '14d',
} as const;
