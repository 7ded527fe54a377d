/**
 * Training pipelines as code, one per model: where its labels come from (a label source: the spine is
 * built from it, no spine file), which features, a time split relative to an as-of time, the trainer,
 * gates, slices and approval, and how it answers monitor alerts. Registered by `kaizen apply`,
 * versioned like feature views (unchanged → no-op, changed → vN+1).
 */
import { z } from 'zod';
import {
  assertIdentifier,
  durationSchema,
  InvalidInputError,
  parseDuration,
  parseFeatureRefs,
  type FeatureRef,
} from '../feature-store/index.js';
import { gateConfigSchema } from '../models/gates.js';
import { ALERT_KINDS } from '../monitoring/policy.js';

const trainerSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('builtin'),
      params: z.object({ kind: z.enum(['logistic', 'mlp']) }).loose(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('external'),
      command: z.string().min(1),
      args: z.array(z.string()).optional(),
      params: z.record(z.string(), z.unknown()).default({}),
      gpu: z.boolean().optional(),
    })
    .strict(),
]);

export const trainingPipelineSpecSchema = z
  .object({
    kind: z.literal('trainingPipeline').optional(),
    model: z.string().regex(/^[a-z][a-z0-9_-]*$/, 'model names: lowercase letters, digits, _ and -'),
    description: z.string().optional(),
    /** The label source the spine is built from: its rows whose label was known by the as-of time. */
    labels: z.string().min(1),
    /** `view[@vN]:feature` refs (or their object form); the latest view versions when unpinned. */
    features: z
      .array(z.union([z.string().min(1), z.object({ view: z.string(), feature: z.string() }).loose()]))
      .min(1),
    /** Back from the as-of time: test is the last `test`, validation the `validation` before it, then train. */
    split: z.object({ train: durationSchema, validation: durationSchema, test: durationSchema }).strict(),
    trainer: trainerSchema,
    gates: gateConfigSchema.partial().optional(),
    /** Spine or feature string columns for per-slice metrics and fairness gates. */
    slices: z.array(z.string().min(1)).optional(),
    /** Wait this long for `kaizen models approve` after the gates pass (a Temporal duration, e.g. '1 day'). */
    approval: z.string().min(1).optional(),
    /** How monitor alerts start this pipeline. */
    retraining: z
      .object({
        /** Alert kinds that retrain (default: realized and estimated performance, data and prediction drift). */
        on: z.array(z.enum(ALERT_KINDS)).optional(),
        /**
         * No alert is acted on (retraining or re-promotion) within this long, in as-of time, after the
         * model's last run of any trigger (default 3d).
         */
        cooldown: durationSchema.optional(),
        /** Before retraining, try the model's earlier versions on the alerting window (default true). */
        repromote: z.boolean().optional(),
        /**
         * An earlier version comes back only when its AUC on the window beats the champion's by at
         * least this (default 0.005): a tie within noise is no reason to switch models.
         */
        minGain: z.number().min(0).max(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type TrainingPipelineDefinition = { kind: 'trainingPipeline' } & z.infer<
  typeof trainingPipelineSpecSchema
>;

export const DEFAULT_RETRAINING = {
  on: ['performance', 'estimated_performance', 'data_drift', 'prediction_drift'] as const,
  cooldown: '3d',
  repromote: true,
  minGain: 0.005,
};

/** Declares a model's training pipeline (validated now; registered by `kaizen apply`). */
export function defineTrainingPipeline(
  spec: Omit<TrainingPipelineDefinition, 'kind'>,
): TrainingPipelineDefinition {
  return parseTrainingPipeline(spec);
}

export function parseTrainingPipeline(spec: unknown): TrainingPipelineDefinition {
  const parsed = trainingPipelineSpecSchema.safeParse(spec);
  if (!parsed.success) {
    const name = (spec as { model?: unknown } | null)?.model;
    const issues = parsed.error.issues
      .map((i) => `${i.path.join('.') || '(pipeline)'}: ${i.message}`)
      .join('; ');
    throw new InvalidInputError(`invalid training pipeline for ${JSON.stringify(name)}: ${issues}`);
  }
  assertIdentifier('label source', parsed.data.labels);
  pipelineFeatures(parsed.data);
  return { ...parsed.data, kind: 'trainingPipeline' };
}

/** The pipeline's features as refs (strings parsed as the CLI parses them). */
export function pipelineFeatures(def: Pick<TrainingPipelineDefinition, 'features'>): FeatureRef[] {
  return def.features.flatMap((f) => (typeof f === 'string' ? parseFeatureRefs(f) : [f as FeatureRef]));
}

/** The time split of a run as of `asOfMs`, and where its spine starts. */
export function splitAsOf(def: TrainingPipelineDefinition, asOfMs: number) {
  const validEndMs = asOfMs - parseDuration(def.split.test);
  const trainEndMs = validEndMs - parseDuration(def.split.validation);
  return { startMs: trainEndMs - parseDuration(def.split.train), trainEndMs, validEndMs, endMs: asOfMs };
}

/** Everything but the description defines a pipeline's behaviour. */
export function trainingPipelineVersionedPart(def: TrainingPipelineDefinition): Record<string, unknown> {
  const { description: _description, kind: _kind, ...rest } = def;
  return rest;
}
