/**
 * The zod schemas of definitions as code: the one description of their shape. The types in
 * types.ts are inferred from these, and define* validates user input against them.
 */
import { z } from 'zod';
import { parseDuration } from './duration.js';
import { parseTimestampText } from './timestamp-text.js';

export const featureTypeSchema = z.enum(['int64', 'float64', 'bool', 'string', 'timestamp']);

/** A duration such as 15m, 1h, 7d (parseDuration). */
export const durationSchema = z.string().refine((d) => {
  try {
    parseDuration(d);
    return true;
  } catch {
    return false;
  }
}, 'invalid duration: expected e.g. 15m, 1h, 24h, 7d');
const isoTimestamp = z
  .string()
  .refine((s) => Number.isFinite(parseTimestampText(s)), 'invalid timestamp: expected ISO 8601 or epoch ms');
const sqlName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/);

export const entitySchema = z.object({
  kind: z.literal('entity'),
  name: z.string(),
  /** Name of the key users pass at lookup time, e.g. `airport` or `route`. */
  joinKey: z.string(),
  description: z.string().optional(),
});

/**
 * Timing of a source's rows. Without `timestampField` every row gets `staticTimestamp` (default
 * 1970-01-01T00:00:00Z) as its event time: a static view. `createdTimestampField` names when a row
 * was written: rows of one entity with the same event time are then ordered by it (latest wins),
 * before the order they were ingested in (Feast's created timestamp).
 */
const timing = {
  timestampField: z.string().min(1).optional(),
  staticTimestamp: isoTimestamp.optional(),
  createdTimestampField: z.string().min(1).optional(),
};

/**
 * Where a view's rows come from. `path` is resolved against the data root (KAIZEN_DATA_ROOT,
 * default: the working directory) when relative.
 */
export const sourceSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('parquet'), path: z.string().min(1), ...timing }).strict(),
  z.object({ kind: z.literal('arrow'), path: z.string().min(1), ...timing }).strict(),
  z
    .object({
      kind: z.literal('csv'),
      path: z.string().min(1),
      delimiter: z.string().length(1).optional(),
      ...timing,
    })
    .strict(),
  z.object({ kind: z.literal('postgres'), table: sqlName, schema: sqlName.optional(), ...timing }).strict(),
]);

export const featureSpecSchema = z
  .object({
    type: featureTypeSchema,
    /** Source column; defaults to the feature name. */
    column: z.string().min(1).optional(),
    /** NaN/±Infinity are quarantined unless allowed. */
    allowNonFinite: z.boolean().optional(),
  })
  .strict();

export const aggregationSchema = z
  .object({
    /** Output features are named `<name>_<window>`, e.g. `mean_delay_24h`. */
    name: z.string(),
    fn: z.enum(['count', 'sum', 'mean', 'min', 'max', 'last']),
    /** Numeric source column; not needed for `count`. */
    column: z.string().min(1).optional(),
    /** When set, the aggregated value is 1 if `column op value`, else 0 (e.g. fraction delayed > 15). */
    compare: z
      .object({ op: z.enum(['>', '>=', '<', '<=', '==', '!=']), value: z.number() })
      .strict()
      .optional(),
  })
  .strict()
  .refine((a) => a.fn === 'count' || a.column !== undefined, {
    message: 'aggregations other than count need a column',
  });

/**
 * Hopping-window aggregation. At every hop boundary `t` (a multiple of `hop` since the Unix epoch,
 * UTC) and for every window `w`, an aggregate covers source events with `t - w <= event_ts < t`
 * (half-open: an event at `t` itself is not yet part of the row stamped `t`, so a feature row never
 * includes the event being predicted). A row is emitted at `t` for an entity when it has at least one
 * event in its largest window. Windows must be multiples of the hop.
 */
export const windowTransformSchema = z
  .object({
    kind: z.literal('window'),
    hop: durationSchema,
    windows: z.array(durationSchema).min(1),
    aggregations: z.array(aggregationSchema).min(1),
  })
  .strict()
  .superRefine((t, ctx) => {
    const hop = parseDuration(t.hop);
    for (const w of t.windows) {
      if (parseDuration(w) % hop !== 0)
        ctx.addIssue({ code: 'custom', message: `window ${w} is not a multiple of hop ${t.hop}` });
    }
  });

/** A feature view as users declare it (defineFeatureView adds `kind`). */
export const featureViewSpecSchema = z
  .object({
    /** Present when a spec is copied from a defined view (`{ ...view, name: 'other' }`). */
    kind: z.literal('featureView').optional(),
    name: z.string(),
    entities: z.array(entitySchema).min(1),
    /**
     * Source column(s) holding each entity's key, by entity name; default: the column named like the
     * entity's join key. An entity keyed by several columns (route = origin, destination) has one key
     * part per column.
     */
    entityColumns: z
      .record(z.string(), z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]))
      .optional(),
    source: sourceSchema,
    /** Duration such as '2h' or '7d'; absent means unbounded. */
    ttl: durationSchema.optional(),
    /** Plain (projection) views: features by name. Exactly one of `features` and `transform`. */
    features: z.record(z.string(), z.union([featureTypeSchema, featureSpecSchema])).optional(),
    transform: windowTransformSchema.optional(),
    description: z.string().optional(),
    tags: z.record(z.string(), z.string()).optional(),
  })
  .strict()
  .refine((v) => (v.features === undefined) !== (v.transform === undefined), {
    message: 'a feature view needs exactly one of `features` (plain view) and `transform` (aggregation)',
  })
  .refine((v) => v.features === undefined || Object.keys(v.features).length > 0, {
    message: 'a plain feature view needs at least one feature',
  })
  .refine((v) => v.transform === undefined || v.source.createdTimestampField === undefined, {
    message:
      'createdTimestampField applies to plain views: a window aggregation counts every event, so there are no duplicate rows to order',
  });
