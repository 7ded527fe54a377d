/** What a training pipeline run takes (trainingPipelineWorkflow), shared by the workflow and its planners. */
import type { TrainingSetRequest } from '../feature-store/index.js';
import type { GateConfig } from '../models/gates.js';
import type { BuiltinParams } from '../trainers/builtin/train.js';

export type TrainerChoice =
  | { kind: 'builtin'; params: BuiltinParams }
  | {
      kind: 'external';
      /** E.g. `python3` with args `['trainers/torch/train.py']`. */
      command: string;
      args?: string[];
      params: Record<string, unknown>;
      /** Run on the `kaizen-gpu` task queue (a GPU host's worker). */
      gpu?: boolean;
    };

export interface TrainingPipelineInput {
  model: string;
  /** Must have a time split: train / validation for training, test for evaluation. */
  trainingSet: TrainingSetRequest;
  label: string;
  trainer: TrainerChoice;
  gates?: Partial<GateConfig>;
  slices?: string[];
  /** Wait for the `approve` signal (after the gates pass) up to this long, e.g. '1 day'. */
  approvalTimeout?: string;
  /** Recorded with the new version: why it was trained (retraining: pipeline, as-of, trigger, alerts). */
  lineage?: Record<string, unknown>;
}
