export { materializeWorkflow, materializeProgressQuery } from './materialize.js';
export type { MaterializeInput, MaterializeProgress, MaterializeResult } from './materialize.js';
export { scheduledMaterializeWorkflow } from './scheduled-materialize.js';
export { buildTrainingSetWorkflow } from './build-training-set.js';
export { approveSignal, pipelineStageQuery, trainingPipelineWorkflow } from './training-pipeline.js';
export type { TrainingPipelineInput, TrainingPipelineResult } from './training-pipeline.js';
export { batchScoreProgressQuery, batchScoreWorkflow } from './batch-score.js';
export type { BatchScoreInput, BatchScoreProgress, BatchScoreResult } from './batch-score.js';
