/** `predict`: merged at the top level of the app router. */
import { randomUUID } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { entityRowSchema, featureRowSchema, type ServingDeps } from '../context.js';
import { text } from '../input-text.js';
import { jsonValue } from '../json-values.js';
import { fetchModelInputs, suppliedModelInputs, type ModelInputs } from '../model-inputs.js';
import { ModelUnavailableError, type ServedModel } from '../model-server.js';
import type { PredictionLogEntry } from '../prediction-log.js';
import { DECISION_THRESHOLD } from '../../monitoring/profile.js';
import { mutation, router } from '../trpc.js';

const predictInput = z
  .strictObject({
    model: text().min(1).max(200),
    /** Entity keys (and request fields): the model's pinned features are fetched online. */
    entities: z.array(entityRowSchema).min(1).optional(),
    /** Feature values by input column `<view>__<feature>`, every model input in every row. */
    features: z.array(featureRowSchema).min(1).optional(),
  })
  .refine((input) => (input.entities === undefined) !== (input.features === undefined), {
    message: 'give exactly one of entities and features',
  });

type PredictInput = z.infer<typeof predictInput>;

interface Scored {
  version: number;
  /** The model's input columns, in its input order. */
  inputColumns: readonly string[];
  inputs: ModelInputs;
  scores: Float64Array;
}

export const predictRouter = router({
  predict: mutation({
    scope: 'predict',
    input: predictInput,
    async run(ctx, input) {
      const { deps } = ctx;
      const rows = (input.entities ?? input.features)!.length;
      if (rows > deps.limits.maxRows)
        throw new TRPCError({
          code: 'BAD_REQUEST',
          message: `${rows} rows: at most ${deps.limits.maxRows} per request`,
        });
      const started = performance.now();
      const predictedAt = new Date();
      const champion = await scoreChampion(deps, input);
      const latencyMs = performance.now() - started;
      const ids = Array.from(champion.scores, () => randomUUID());
      const version = String(champion.version);
      for (const score of champion.scores)
        deps.metrics.predictionScores.observe({ model: input.model, version }, score);
      // After the response: the challenger's score (when shadowing) and the log entries.
      deps.predictionLog.recordPending(
        afterResponse().then(async () => {
          const shadow = await scoreShadow(deps, input);
          return logEntries(input, champion, shadow, ids, { apiKeyId: ctx.key.id, predictedAt, latencyMs });
        }),
      );
      return {
        model: input.model,
        version: champion.version,
        predictions: ids.map((id, i) => ({ id, score: champion.scores[i] })),
      };
    },
  }),
});

async function scoreChampion(deps: ServingDeps, input: PredictInput): Promise<Scored> {
  try {
    return await deps.models.withChampion(input.model, (champion) => score(deps, champion, input));
  } catch (error) {
    if (!(error instanceof ModelUnavailableError)) throw error;
    throw new TRPCError({
      code: error.reason === 'unknown' ? 'NOT_FOUND' : 'PRECONDITION_FAILED',
      message: error.message,
    });
  }
}

/** The challenger's scores for the same request, or null (not shadowing, or it failed: counted). */
async function scoreShadow(deps: ServingDeps, input: PredictInput): Promise<Scored | null> {
  try {
    return await deps.models.withShadowChallenger(input.model, (challenger) =>
      score(deps, challenger, input),
    );
  } catch {
    deps.metrics.shadowScoringFailures.inc({ model: input.model });
    return null;
  }
}

async function score(deps: ServingDeps, model: ServedModel, input: PredictInput): Promise<Scored> {
  const inputs = input.entities
    ? await fetchModelInputs(deps.features, model, input.entities)
    : suppliedModelInputs(model, input.features!);
  return {
    version: model.version,
    inputColumns: model.inputColumns,
    inputs,
    scores: await model.score(inputs.columns, inputs.rows),
  };
}

const afterResponse = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A numeric input column's slot as a log number (null where missing; text inputs are in `features`). */
function numericInput(column: ModelInputs['columns'][string] | undefined, i: number): number | null {
  if (!column || column.type === 'string' || !column.valid[i]) return null;
  return column.values[i] as number;
}

function logEntries(
  input: PredictInput,
  champion: Scored,
  shadow: Scored | null,
  ids: string[],
  request: { apiKeyId: string; predictedAt: Date; latencyMs: number },
): PredictionLogEntry[] {
  const ordered = champion.inputColumns.map((name) => champion.inputs.columns[name]);
  // `inputs` holds the numeric inputs; text inputs go to `features` by name (null when there are none).
  const textColumns = champion.inputColumns.filter(
    (name) => champion.inputs.columns[name]?.type === 'string',
  );
  return ids.map((id, i) => ({
    id,
    modelName: input.model,
    version: champion.version,
    source: 'online',
    entities: input.entities?.[i] ?? null,
    // Online features are looked up as of the request.
    eventTs: request.predictedAt,
    score: champion.scores[i],
    decision: champion.scores[i] >= DECISION_THRESHOLD,
    features:
      textColumns.length === 0
        ? null
        : Object.fromEntries(textColumns.map((name) => [name, jsonValue(champion.inputs.columns[name], i)])),
    inputs: ordered.map((column) => numericInput(column, i)),
    shadowVersion: shadow?.version ?? null,
    shadowScore: shadow?.scores[i] ?? null,
    latencyMs: request.latencyMs,
    apiKeyId: request.apiKeyId,
    predictedAt: request.predictedAt,
  }));
}
