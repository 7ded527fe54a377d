import { ApplicationFailure } from '@temporalio/activity';
import { SourceError } from '../feature-store/sources/source-data.js';

/** Failures that a retry cannot fix (missing/corrupt source, invalid definition) fail fast and say why. */
export function asActivityFailure(error: unknown): unknown {
  if (error instanceof SourceError) return ApplicationFailure.nonRetryable(error.message, error.code);
  if (error instanceof Error && /^(invalid|unknown) /.test(error.message)) {
    return ApplicationFailure.nonRetryable(error.message, 'INVALID_DEFINITION');
  }
  return error;
}
