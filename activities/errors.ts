import { ApplicationFailure } from '@temporalio/activity';
import { FAILURE_TYPES } from '../constants.js';
import { InvalidInputError, SourceError } from '../feature-store/index.js';
import {
  AliasConflictError,
  ArtifactIntegrityError,
  InvalidModelGraphError,
  InvalidModelInputError,
  ModelNotFoundError,
  NoAliasError,
  RunInFlightError,
} from '../models/errors.js';

/**
 * Failures that a retry cannot fix become non-retryable ApplicationFailures with a type, decided by
 * the error's class where it was born; everything else (a database restart, a killed process) is
 * left to Temporal's retries.
 */
export function asActivityFailure(error: unknown): unknown {
  const fail = (type: string) => ApplicationFailure.nonRetryable((error as Error).message, type);
  if (error instanceof SourceError) return fail(error.code);
  if (
    error instanceof InvalidInputError ||
    error instanceof InvalidModelInputError ||
    error instanceof InvalidModelGraphError
  )
    return fail(FAILURE_TYPES.invalidInput);
  if (error instanceof ModelNotFoundError || error instanceof NoAliasError)
    return fail(FAILURE_TYPES.modelNotFound);
  if (error instanceof AliasConflictError) return fail(FAILURE_TYPES.aliasConflict);
  if (error instanceof ArtifactIntegrityError) return fail(FAILURE_TYPES.artifactIntegrity);
  if (error instanceof RunInFlightError) return fail(FAILURE_TYPES.runInFlight);
  return error;
}
