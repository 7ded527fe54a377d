/** Typed failures of the model registry, each a case that callers decide on (not a message to parse). */

/** No model (or model version) of that name: a caller's mistake, never worth a retry. */
export class ModelNotFoundError extends Error {
  override name = 'ModelNotFoundError';
}

/** The model exists but has no version behind this alias yet (e.g. no champion before the first promotion). */
export class NoAliasError extends Error {
  override name = 'NoAliasError';
}

/** Compare-and-set lost: the alias moved since the decision was made (another promotion won). */
export class AliasConflictError extends Error {
  override name = 'AliasConflictError';
}

/** A registered artifact whose bytes no longer hash to what was registered (tampering, truncation). */
export class ArtifactIntegrityError extends Error {
  override name = 'ArtifactIntegrityError';
}

/** Input the registry refuses as given (a bad model name, a bad label column). */
export class InvalidModelInputError extends Error {
  override name = 'InvalidModelInputError';
}

/** An ONNX graph that cannot be scored as its layout declares (malformed metadata, inputs that disagree with it). */
export class InvalidModelGraphError extends Error {
  override name = 'InvalidModelGraphError';
}

/** Another run of the model (a retraining or a re-promotion attempt) is in flight: at most one at a time. */
export class RunInFlightError extends Error {
  override name = 'RunInFlightError';
}
