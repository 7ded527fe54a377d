/**
 * A request or definition that cannot succeed as given — malformed input, an unknown view, feature
 * or version, a definition that breaks a rule. Retrying will not help: activities fail such work at
 * once (non-retryable) with this message, and servers answer it as a client error.
 */
export class InvalidInputError extends Error {
  override name = 'InvalidInputError';
}
