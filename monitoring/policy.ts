/**
 * Monitor policies as code, one per model: which labels judge it, how windows are cut into slices,
 * the thresholds of every verdict, and when verdicts become alerts (consecutive windows, cooldown).
 * Models without a registered policy are monitored with DEFAULT_POLICY.
 */
import { z } from 'zod';
import { assertIdentifier, durationSchema, InvalidInputError } from '../feature-store/index.js';

const sliceName = z.string().regex(/^[a-z][a-z0-9_]*$/, 'slice names: a-z, 0-9 and _');
const edges = z
  .array(z.number())
  .min(1)
  .refine((e) => e.every((x, i) => i === 0 || x > e[i - 1]), 'edges must increase');

/**
 * A slice of a window's predictions: by a numeric model input cut at `edges`, by the UTC hour of the
 * prediction's event time cut at `edges`, or by an entity key or request field of the predictions
 * (optionally grouped: `{ chicago: ['ORD', 'MDW'] }`, others by value, the `top` most frequent kept).
 */
export const sliceSchema = z.union([
  z.object({ name: sliceName, input: z.string().min(1), edges }).strict(),
  z.object({ name: sliceName, eventHour: edges }).strict(),
  z
    .object({
      name: sliceName,
      field: z.string().min(1),
      groups: z.record(z.string(), z.array(z.string()).min(1)).optional(),
      top: z.number().int().min(1).max(100).optional(),
    })
    .strict(),
]);
export type SliceSpec = z.infer<typeof sliceSchema>;

export const ALERT_KINDS = [
  'data_drift',
  'prediction_drift',
  'data_quality',
  'performance',
  'estimated_performance',
] as const;
export type AlertKind = (typeof ALERT_KINDS)[number];

export const monitorPolicySpecSchema = z
  .object({
    kind: z.literal('monitorPolicy').optional(),
    /** The model this policy monitors (one policy per model; its versions are the policy's versions). */
    model: z.string().min(1),
    description: z.string().optional(),
    /** Label source whose labels are ingested and joined to the predictions (realized performance). */
    labels: z.string().optional(),
    /** Window length of `kaizen monitor` and schedules when not given. */
    window: durationSchema.default('1d'),
    /**
     * How long after a window ends its labels have mostly arrived: a scheduled run also monitors the
     * window that ended this long ago again, so that its realized performance is judged — unless its
     * windows slide over those labels (scheduledWindows), whose stored figures then stay the first run's.
     */
    settle: durationSchema.default('1d'),
    /** Fewer rows (non-null values, for a feature) than this in a window: no verdict. */
    minRows: z.number().int().min(1).default(500),
    /** Fewer labelled rows than this: no realized-performance verdict. */
    minLabelled: z.number().int().min(1).default(200),
    slices: z.array(sliceSchema).default([]),
    drift: z
      .object({
        /** Population stability index on the reference's decile bins at or above which a feature drifted. */
        psi: z.number().positive().default(0.2),
        /** Family-wise significance of the KS / chi-squared tests in a window (Bonferroni over its features). */
        pValue: z.number().gt(0).lt(1).default(0.01),
        /** A significant KS test counts only when D (the largest CDF gap) is at least this. */
        minKsStatistic: z.number().gt(0).lt(1).default(0.04),
        /** A significant chi-squared test counts only when Cramér's V is at least this. */
        minCramersV: z.number().gt(0).lt(1).default(0.1),
      })
      .strict()
      .default({ psi: 0.2, pValue: 0.01, minKsStatistic: 0.04, minCramersV: 0.1 }),
    quality: z
      .object({
        /** Null rate above the reference's by more than this. */
        maxNullRateIncrease: z.number().min(0).max(1).default(0.1),
        /** Share of values outside the reference's [min, max]. */
        maxOutOfRangeRate: z.number().min(0).max(1).default(0.05),
        /** Share of text values in no reference category. */
        maxUnseenRate: z.number().min(0).max(1).default(0.05),
      })
      .strict()
      .default({ maxNullRateIncrease: 0.1, maxOutOfRangeRate: 0.05, maxUnseenRate: 0.05 }),
    performance: z
      .object({
        /** Realized (or estimated) AUC below the validation AUC by more than this. */
        maxAucDrop: z.number().min(0).max(1).default(0.05),
        /** The same for a slice. */
        maxSliceAucDrop: z.number().min(0).max(1).default(0.1),
        /** Labelled rows a slice needs for a verdict. */
        minSliceLabelled: z.number().int().min(1).default(500),
        /** A drop counts only when this many standard errors (Hanley–McNeil) below the reference. */
        minZ: z.number().min(0).default(3),
      })
      .strict()
      .default({ maxAucDrop: 0.05, maxSliceAucDrop: 0.1, minSliceLabelled: 500, minZ: 3 }),
    alerts: z
      .object({
        on: z.array(z.enum(ALERT_KINDS)).default([...ALERT_KINDS]),
        /** Consecutive windows with the same verdict before it is an alert (hysteresis). */
        consecutiveWindows: z.number().int().min(1).default(1),
        /** After an alert, the same kind and subject do not alert again for this long. */
        cooldown: durationSchema.default('1d'),
      })
      .strict()
      .default({ on: [...ALERT_KINDS], consecutiveWindows: 1, cooldown: '1d' }),
  })
  .strict();

export type MonitorPolicyInput = z.input<typeof monitorPolicySpecSchema>;
export type MonitorPolicy = { kind: 'monitorPolicy' } & z.output<typeof monitorPolicySpecSchema>;

/** Declares a model's monitor policy (validated now, defaults filled in; registered by `kaizen apply`). */
export function defineMonitorPolicy(spec: Omit<MonitorPolicyInput, 'kind'>): MonitorPolicy {
  return parseMonitorPolicy(spec);
}

export function parseMonitorPolicy(spec: unknown): MonitorPolicy {
  const parsed = monitorPolicySpecSchema.safeParse(spec);
  const name = (spec as { model?: unknown } | null)?.model;
  if (!parsed.success) {
    const issues = parsed.error.issues
      .map((i) => `${i.path.join('.') || '(policy)'}: ${i.message}`)
      .join('; ');
    throw new InvalidInputError(`invalid monitor policy for ${JSON.stringify(name)}: ${issues}`);
  }
  if (parsed.data.labels !== undefined) assertIdentifier('label source', parsed.data.labels);
  const names = parsed.data.slices.map((s) => s.name);
  if (new Set(names).size !== names.length)
    throw new InvalidInputError(`invalid monitor policy for "${parsed.data.model}": slice names repeat`);
  return { ...parsed.data, kind: 'monitorPolicy' };
}

/** The policy of a model that has none registered. */
export const defaultPolicy = (model: string): MonitorPolicy => parseMonitorPolicy({ model });

/** Everything but the description defines a policy's behaviour. */
export function monitorPolicyVersionedPart(policy: MonitorPolicy): Record<string, unknown> {
  const { description: _description, kind: _kind, ...rest } = policy;
  return rest;
}

/**
 * The windows a scheduled monitor run judges as of `asOfMs`, oldest first: the one ending at the last
 * multiple of the interval, and the one that ended `settleMs` before (its labels have come) — unless
 * the latest window still holds that one's last `settleMs`, the events whose labels were arriving
 * when it was first judged: a window that slides (a week's, daily) judges those labels itself.
 */
export function scheduledWindows(input: {
  asOfMs: number;
  windowMs: number;
  everyMs: number;
  settleMs: number;
}): Array<{ startMs: number; endMs: number }> {
  const endOf = (ms: number) => Math.floor(ms / input.everyMs) * input.everyMs;
  const latest = endOf(input.asOfMs);
  const settled = endOf(input.asOfMs - input.settleMs);
  const judgedInLatest = latest - input.windowMs <= settled - input.settleMs;
  const ends = settled === latest || judgedInLatest ? [latest] : [settled, latest];
  return ends.map((endMs) => ({ startMs: endMs - input.windowMs, endMs }));
}
