/**
 * Activities of batch scoring (`kaizen score`, workflows/batch-score.ts): resolve the model version
 * and the spine mapping, score parts of the point-in-time features with the ONNX graph that serving
 * runs (optionally logging them as batch predictions), and put the scored parts together in spine order.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { makeData, makeVector, Table, tableFromIPC, Utf8, type Data, type Vector } from 'apache-arrow';
import type { Database } from '../db/client.js';
import {
  canonicalJson,
  columnToVector,
  decodeVector,
  eventTimesFromColumn,
  InvalidInputError,
  isFeatureRef,
  parseFeatureRefs,
  pinnedFeatureColumns,
  rawColumnToVector,
  rawToColumn,
  utf8Vector,
  writeArrowFileAtomic,
  type FeatureRef,
  type FeatureStore,
  type SpineSpec,
} from '../feature-store/index.js';
import {
  entitiesJson,
  predictionId,
  writeBatchPredictions,
  type RequestField,
} from '../models/batch-prediction-log.js';
import { InvalidModelInputError } from '../models/errors.js';
import { createOnnxScorer } from '../models/onnx-scorer.js';
import { getModelVersion, loadModelArtifact, type ModelAlias } from '../models/registry.js';
import { DECISION_THRESHOLD } from '../monitoring/profile.js';
import { heartbeatingActivity } from './heartbeat.js';

/** The spine to score; a mapping left out is the one the model's training set used. */
export interface ScoringSpine {
  /** Absolute path (.parquet, .arrow or .csv). */
  path: string;
  entities?: SpineSpec['entities'];
  tsColumn?: string;
  /** Spine column of a request field, where it differs from the training spine's. */
  request?: Record<string, string>;
}

export interface ScoringModel {
  version: number;
  /** Pinned features (`view@vN:feature`, or a request field read as named), in model input order. */
  features: string[];
  /** The training set the version learned from (its spine mapping is the default). */
  trainingSetId: string;
  /** The features to look up as of each spine row: the model's pinned refs. */
  refs: FeatureRef[];
  /** The spine with its whole mapping: request fields of on-demand views explicit. */
  spine: SpineSpec;
  /** Request fields of the rows (on-demand views' and inputs read as named): logged with the keys. */
  requestFields: RequestField[];
  /** Where this model version's features for this spine and its scored parts go. */
  dir: string;
}

export interface ScoreBatchPartInput {
  model: string;
  version: number;
  /** The point-in-time features of the spine (buildTrainingSetWorkflow's file) and the spine's sha256. */
  trainingSet: { id: string; path: string; spineSha256: string; featureColumns: string[] };
  spine: SpineSpec;
  requestFields: RequestField[];
  /** Rows [from, to) of the spine. */
  from: number;
  to: number;
  part: number;
  parts: number;
  dir: string;
  log: boolean;
}

/** Output columns after the spine's. */
const SCORE_COLUMNS = ['score', 'decision', 'prediction_id'];

/** Parts scored at once on one worker share one read of the features file. */
const openFiles = new Map<string, { table: Promise<Table>; users: number }>();

async function withArrowFile<T>(file: string, body: (table: Table) => Promise<T>): Promise<T> {
  let entry = openFiles.get(file);
  if (!entry) {
    entry = { table: readFile(file).then((bytes) => tableFromIPC(bytes)), users: 0 };
    openFiles.set(file, entry);
  }
  entry.users++;
  try {
    return await body(await entry.table);
  } finally {
    if (--entry.users === 0) openFiles.delete(file);
  }
}

/** The parts' prediction ids as one Utf8 vector (every value distinct: a dictionary would only add to it). */
function concatUtf8(chunks: readonly Data[], rows: number): Vector {
  const valueOffsets = new Int32Array(rows + 1);
  const pieces: Uint8Array[] = [];
  let row = 0;
  let bytes = 0;
  for (const d of chunks) {
    const offsets = d.valueOffsets as Int32Array;
    for (let i = 1; i <= d.length; i++) valueOffsets[row + i] = bytes + offsets[i] - offsets[0];
    pieces.push((d.values as Uint8Array).subarray(offsets[0], offsets[d.length]));
    row += d.length;
    bytes += offsets[d.length] - offsets[0];
  }
  return makeVector(makeData({ type: new Utf8(), length: rows, data: Buffer.concat(pieces), valueOffsets }));
}

export function createScoringActivities(deps: {
  database: Database;
  store: FeatureStore;
  artifactsDir: string;
}) {
  const { database, store } = deps;

  return {
    /**
     * The version to score with (a number or an alias) and the spine mapping: the training spine's,
     * overridden field by field by the request.
     */
    resolveScoringModel: heartbeatingActivity(
      async (input: {
        model: string;
        ref: number | ModelAlias;
        spine: ScoringSpine;
      }): Promise<ScoringModel> => {
        const version = await getModelVersion(database.db, input.model, input.ref);
        const features = version.features as string[];
        const trained = (await store.getTrainingSet(version.trainingSetId)).spine;
        const refs = features.filter(isFeatureRef).flatMap((ref) => parseFeatureRefs(ref));
        const requestColumns = { ...trained.request, ...input.spine.request };
        const requestFields = new Map<string, RequestField>();
        for (const ref of refs) {
          const registered = await store.resolver.resolve(ref.view, ref.version);
          if (registered?.kind !== 'onDemand') continue;
          for (const [field, type] of Object.entries(registered.view.definition.request))
            requestFields.set(field, { field, column: requestColumns[field] ?? field, type });
        }
        const onDemandRequest = Object.fromEntries(
          [...requestFields.values()].map(({ field, column }) => [field, column]),
        );
        // Inputs that are not refs are request fields read as named (serving takes them from the entity row).
        for (const field of features.filter((f) => !isFeatureRef(f)))
          if (!requestFields.has(field)) requestFields.set(field, { field, column: field });
        const spine: SpineSpec = {
          path: input.spine.path,
          entities: input.spine.entities ?? trained.entities,
          tsColumn: input.spine.tsColumn ?? trained.tsColumn,
          ...(Object.keys(onDemandRequest).length > 0 ? { request: onDemandRequest } : {}),
        };
        // Keyed by what the features depend on, not by the output: scoring the same spine again (to
        // another file, logging or not) builds the same training set, so its prediction ids repeat.
        const key = createHash('sha256')
          .update(canonicalJson({ model: input.model, version: version.version, spine }))
          .digest('hex')
          .slice(0, 16);
        return {
          version: version.version,
          features,
          trainingSetId: version.trainingSetId,
          refs,
          spine,
          requestFields: [...requestFields.values()],
          dir: path.join(deps.artifactsDir, 'scores', input.model, `v${version.version}-${key}`),
        };
      },
    ),

    /**
     * Scores rows [from, to) of the features file and writes them as a part: the spine's columns, then
     * `score`, `decision` and, when logging, `prediction_id`. With `log`, the rows go to the
     * prediction log in the same attempt (one transaction; ids derived from the row: idempotent).
     */
    scoreBatchPart: heartbeatingActivity(
      async (
        input: ScoreBatchPartInput,
        report,
        signal,
      ): Promise<{ path: string; rows: number; inserted: number }> => {
        const version = await getModelVersion(database.db, input.model, input.version);
        const inputColumns = pinnedFeatureColumns(version.features as string[]);
        const featureColumns = new Set(input.trainingSet.featureColumns);
        return withArrowFile(input.trainingSet.path, async (file) => {
          const table = file.slice(input.from, input.to);
          const rows = table.numRows;
          const spineColumns = table.schema.fields.map((f) => f.name).filter((n) => !featureColumns.has(n));
          const clash = spineColumns.find((name) => SCORE_COLUMNS.includes(name));
          if (clash)
            throw new InvalidInputError(
              `invalid spine: its column "${clash}" would clash with the scores' (${SCORE_COLUMNS.join(', ')}); rename it`,
            );
          const raw = (name: string) => {
            const vector = table.getChild(name);
            if (!vector)
              throw new InvalidModelInputError(
                `${input.model}@v${input.version} reads "${name}", which is neither a feature nor a spine column`,
              );
            return decodeVector(vector, rows);
          };
          const columns = Object.fromEntries(
            inputColumns.map((name) => [name, rawToColumn(raw(name), 'float64')]),
          );

          report({ phase: 'score', part: input.part, rows });
          const scorer = await createOnnxScorer(await loadModelArtifact(version));
          let scores: Float64Array;
          try {
            const unknown = scorer.inputNames.filter((name) => !(name in columns));
            if (unknown.length > 0)
              throw new InvalidModelInputError(
                `${input.model}@v${input.version}: its ONNX graph reads ${unknown.join(', ')}, which it does not pin`,
              );
            scores = await scorer.score(columns, rows);
          } finally {
            await scorer.release();
          }

          const valid = new Uint8Array(rows).fill(1);
          const decisions = Uint8Array.from(scores, (score) => (score >= DECISION_THRESHOLD ? 1 : 0));
          const vectors: Record<string, Vector> = {};
          for (const name of spineColumns) vectors[name] = table.getChild(name)!;
          vectors.score = columnToVector({ type: 'float64', values: scores, valid }, { dictionaryId: 0 });
          vectors.decision = columnToVector({ type: 'bool', values: decisions, valid }, { dictionaryId: 0 });
          let inserted = 0;
          if (input.log) {
            const ids = Array.from({ length: rows }, (_, j) =>
              predictionId(input.model, input.version, input.trainingSet.spineSha256, input.from + j),
            );
            vectors.prediction_id = utf8Vector(ids, valid, rows);
            report({ phase: 'log', part: input.part, rows });
            inserted = await writeBatchPredictions(
              database.pool,
              {
                model: input.model,
                version: input.version,
                ids,
                entities: entitiesJson(input.spine.entities, input.requestFields, raw),
                eventTs: eventTimesFromColumn(raw(input.spine.tsColumn), input.spine.tsColumn, 'the spine'),
                scores,
                inputs: inputColumns.map((name) => ({ name, column: columns[name] })),
              },
              signal,
            );
          }
          const width = (n: number) => String(n).padStart(4, '0');
          const partPath = path.join(
            input.dir,
            `${input.trainingSet.id}.part-${width(input.part)}-of-${width(input.parts)}.arrow`,
          );
          await writeArrowFileAtomic(partPath, new Table(vectors));
          return { path: partPath, rows, inserted };
        });
      },
    ),

    /** Writes the scored parts, in order, as one file (replaced atomically). */
    finalizeBatchScores: heartbeatingActivity(
      async (input: { parts: string[]; out: string }, report): Promise<{ rows: number }> => {
        if (!path.isAbsolute(input.out))
          throw new InvalidInputError(`invalid output path "${input.out}": expected an absolute path`);
        report({ phase: 'finalize', parts: input.parts.length });
        const tables = await Promise.all(input.parts.map(async (part) => tableFromIPC(await readFile(part))));
        const rows = tables.reduce((sum, t) => sum + t.numRows, 0);
        const vectors: Record<string, Vector> = {};
        // One dictionary per string column for the whole file (each part has its own).
        let dictionaryId = 0;
        tables[0].schema.fields.forEach((field, k) => {
          const chunks = tables.flatMap((t) => t.getChildAt(k)!.data);
          vectors[field.name] =
            field.name === 'prediction_id'
              ? concatUtf8(chunks, rows)
              : rawColumnToVector(decodeVector(makeVector(chunks), rows), rows, {
                  dictionaryId: dictionaryId++,
                  label: field.name,
                });
        });
        await writeArrowFileAtomic(input.out, new Table(vectors));
        return { rows };
      },
    ),
  };
}
