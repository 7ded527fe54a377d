/**
 * `kaizen apply` for training pipelines: versioned in the definitions registry (unchanged → no-op,
 * changed → vN+1). A pipeline's label source must be registered, now or before, and have rows to
 * build spines from.
 */
import type { Db } from '../db/client.js';
import { InvalidInputError } from '../feature-store/index.js';
import { applyDefinition, findDefinition, type DefinitionApplyResult } from '../models/definitions.js';
import type { LabelSourceDefinition } from '../monitoring/labels/label-source.js';
import {
  parseTrainingPipeline,
  trainingPipelineVersionedPart,
  type TrainingPipelineDefinition,
} from './pipeline.js';

export async function applyTrainingPipelines(
  db: Db,
  pipelines: TrainingPipelineDefinition[],
): Promise<DefinitionApplyResult[]> {
  const results: DefinitionApplyResult[] = [];
  for (const pipeline of pipelines.map(parseTrainingPipeline)) {
    const source = await findDefinition<LabelSourceDefinition>(db, 'labelSource', pipeline.labels);
    if (!source)
      throw new InvalidInputError(
        `training pipeline of "${pipeline.model}": unknown label source "${pipeline.labels}" (define it with defineLabelSource)`,
      );
    if (!source.definition.source)
      throw new InvalidInputError(
        `training pipeline of "${pipeline.model}": label source "${pipeline.labels}" has no source to build spines from`,
      );
    results.push(
      await applyDefinition(db, 'trainingPipeline', pipeline.model, pipeline, trainingPipelineVersionedPart),
    );
  }
  return results;
}
