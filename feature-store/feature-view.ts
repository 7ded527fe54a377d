import { z } from 'zod';
import { parseDuration } from './duration.js';
import { assertIdentifier } from './identifiers.js';
import type { FeatureViewDefinition } from './types.js';

const featureType = z.enum(['int64', 'float64', 'bool', 'string', 'timestamp']);
const duration = z.string().refine((d) => {
  try {
    parseDuration(d);
    return true;
  } catch {
    return false;
  }
}, 'invalid duration: expected e.g. 15m, 1h, 24h, 7d');
const isoTimestamp = z.string().refine((s) => Number.isFinite(Date.parse(s)), 'invalid ISO timestamp');
const timing = { timestampField: z.string().min(1).optional(), staticTimestamp: isoTimestamp.optional() };

const sourceSchema = z.discriminatedUnion('kind', [
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
  z
    .object({
      kind: z.literal('postgres'),
      table: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/),
      schema: z
        .string()
        .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
        .optional(),
      ...timing,
    })
    .strict(),
]);

const aggregationSchema = z
  .object({
    name: z.string(),
    fn: z.enum(['count', 'sum', 'mean', 'min', 'max', 'last']),
    column: z.string().min(1).optional(),
    compare: z
      .object({ op: z.enum(['>', '>=', '<', '<=', '==', '!=']), value: z.number() })
      .strict()
      .optional(),
  })
  .strict()
  .refine((a) => a.fn === 'count' || a.column !== undefined, {
    message: 'aggregations other than count need a column',
  });

const windowSchema = z
  .object({
    kind: z.literal('window'),
    hop: duration,
    windows: z.array(duration).min(1),
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

const viewSchema = z
  .object({
    name: z.string(),
    entities: z
      .array(z.object({ kind: z.literal('entity'), name: z.string(), joinKey: z.string() }).passthrough())
      .min(1),
    entityColumns: z
      .record(z.string(), z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]))
      .optional(),
    source: sourceSchema,
    ttl: duration.optional(),
    features: z
      .record(
        z.string(),
        z.union([
          featureType,
          z
            .object({
              type: featureType,
              column: z.string().min(1).optional(),
              allowNonFinite: z.boolean().optional(),
            })
            .strict(),
        ]),
      )
      .optional(),
    transform: windowSchema.optional(),
    description: z.string().optional(),
    tags: z.record(z.string(), z.string()).optional(),
  })
  .strict()
  .refine((v) => (v.features === undefined) !== (v.transform === undefined), {
    message: 'a feature view needs exactly one of `features` (plain view) and `transform` (aggregation)',
  })
  .refine((v) => v.features === undefined || Object.keys(v.features).length > 0, {
    message: 'a plain feature view needs at least one feature',
  });

/**
 * Declares a feature view. Definitions are plain data (no functions), so they can be fingerprinted,
 * stored in the registry and re-read by any worker.
 */
export function defineFeatureView(spec: Omit<FeatureViewDefinition, 'kind'>): FeatureViewDefinition {
  const parsed = viewSchema.safeParse(spec);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(view)'}: ${i.message}`).join('; ');
    throw new Error(`invalid feature view ${JSON.stringify(spec.name)}: ${issues}`);
  }
  assertIdentifier('feature view', spec.name);
  for (const name of Object.keys(spec.entityColumns ?? {})) {
    if (!spec.entities.some((e) => e.name === name)) {
      throw new Error(`invalid feature view "${spec.name}": entityColumns names unknown entity "${name}"`);
    }
  }
  for (const feature of Object.keys(spec.features ?? {})) assertIdentifier('feature', feature);
  for (const agg of spec.transform?.aggregations ?? []) {
    for (const window of spec.transform!.windows) assertIdentifier('feature', `${agg.name}_${window}`);
  }
  return { kind: 'featureView', ...spec };
}
