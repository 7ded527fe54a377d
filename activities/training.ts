import path from 'node:path';
import { ApplicationFailure, Context } from '@temporalio/activity';
import {
  runExternalTrainer,
  TrainerError,
  type ExternalTrainerResult,
  type ExternalTrainerSpec,
} from '../trainers/external.js';
import { FAILURE_TYPES } from '../constants.js';
import { artifactPath } from './artifact-paths.js';
import { asActivityFailure } from './errors.js';
import { withHeartbeat } from './heartbeat.js';

export interface TrainingActivityDeps {
  /** Relative trainer output directories resolve against `<artifactsDir>/models`. */
  artifactsDir: string;
}

export type ExternalTrainerInput = Omit<ExternalTrainerSpec, 'out'> & {
  /**
   * Default: `<artifactsDir>/models/<workflow id>/<activity id>` (a retry overwrites the same place);
   * a relative path must stay under `<artifactsDir>/models`.
   */
  out?: string;
};

export function createTrainingActivities(deps: TrainingActivityDeps) {
  const modelsDir = path.resolve(deps.artifactsDir, 'models');
  return {
    /**
     * Runs an external trainer (trainers/external.ts). Each progress line becomes a heartbeat;
     * cancelling the activity terminates the trainer's process tree. A crash or missing outputs is a
     * non-retryable `TrainerFailed` failure: the same command on the same data would fail again.
     */
    async runExternalTrainer(input: ExternalTrainerInput): Promise<ExternalTrainerResult> {
      const { info } = Context.current();
      try {
        // An absolute `out` is the caller's choice; a relative one stays under the models directory.
        const out =
          input.out !== undefined && path.isAbsolute(input.out)
            ? input.out
            : artifactPath(
                modelsDir,
                input.out ??
                  path.join(
                    // No workflow for a standalone activity.
                    safeSegment(info.workflowExecution?.workflowId ?? 'standalone'),
                    safeSegment(info.activityId),
                  ),
              );
        return await withHeartbeat((report, signal) =>
          runExternalTrainer({ ...input, out }, { onProgress: report, signal }),
        );
      } catch (error) {
        if (error instanceof TrainerError)
          throw ApplicationFailure.nonRetryable(error.message, FAILURE_TYPES.trainerFailed);
        throw asActivityFailure(error);
      }
    },
  };
}

/** Workflow and activity ids are free-form: keep them to one path segment. */
function safeSegment(id: string): string {
  return id.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+$/, '_');
}
