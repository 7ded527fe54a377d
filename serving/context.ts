/**
 * What a tRPC procedure sees: the server's components (created once at start-up and injected) and
 * the API key that authenticated the call, if any.
 */
import type pg from 'pg';
import { z } from 'zod';
import type { Db } from '../db/client.js';
import type { Column, OnlineStatus } from '../feature-store/index.js';
import type { ServingMetrics } from './metrics.js';
import { text } from './input-text.js';
import type { ModelServer } from './model-server.js';
import type { PredictionLog } from './prediction-log.js';

export const SCOPES = ['features:read', 'predict', 'feedback:write', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface AuthenticatedKey {
  id: string;
  name: string;
  scopes: Scope[];
}

export interface ApiKeyVerifier {
  /** The key a presented secret belongs to; null when unknown or revoked. */
  verify(secret: string): Promise<AuthenticatedKey | null>;
}

/**
 * One row of a lookup: entity join keys (`airport: 'SFO'`; an entity keyed by several columns takes
 * its parts: `route: ['SFO', 'LAX']`) and request fields read by on-demand features
 * (`departure: '2001-06-01T08:05:00Z'` or epoch ms).
 */
export const entityRowSchema = z.record(text(), z.union([text(), z.number(), z.array(text()), z.null()]));
export type EntityRow = z.infer<typeof entityRowSchema>;

/** Model inputs supplied by the caller, by input column `<view>__<feature>`. */
export const featureRowSchema = z.record(text(), z.union([z.number(), text(), z.boolean(), z.null()]));
export type FeatureRow = z.infer<typeof featureRowSchema>;

export interface OnlineFeatureBatch {
  rows: number;
  /** `<view>__<feature>` (as in training sets) → one value per row; null where missing or expired. */
  columns: Record<string, Column>;
  /** Per view: the version read and, per row, its status and the feature row's event time (ms). */
  views: Array<{
    name: string;
    version: number;
    onDemand: boolean;
    status: Array<OnlineStatus | 'computed'>;
    eventTs: Array<number | null>;
  }>;
}

export interface OnlineFeatures {
  /**
   * Online values of `view[@vN]:feature` refs for each row (latest version when none is pinned),
   * through the cache; on-demand features are computed from the rows' request fields.
   */
  get(refs: string[], rows: EntityRow[]): Promise<OnlineFeatureBatch>;
  close(): Promise<void>;
}

export interface ServingDeps {
  db: Db;
  pool: pg.Pool;
  keys: ApiKeyVerifier;
  features: OnlineFeatures;
  models: ModelServer;
  predictionLog: PredictionLog;
  metrics: ServingMetrics;
  limits: { maxRows: number; maxBodyBytes: number };
}

export interface ServingContext {
  deps: ServingDeps;
  key: AuthenticatedKey | null;
}
