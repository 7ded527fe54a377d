import { assertIdentifier } from './identifiers.js';
import { featureViewSpecSchema } from './schemas.js';
import type { FeatureViewDefinition } from './types.js';
import { InvalidInputError } from './errors.js';

/**
 * Declares a feature view. Definitions are plain data (no functions), so they can be fingerprinted,
 * stored in the registry and re-read by any worker.
 */
export function defineFeatureView(spec: Omit<FeatureViewDefinition, 'kind'>): FeatureViewDefinition {
  const parsed = featureViewSpecSchema.safeParse(spec);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(view)'}: ${i.message}`).join('; ');
    throw new InvalidInputError(`invalid feature view ${JSON.stringify(spec.name)}: ${issues}`);
  }
  assertIdentifier('feature view', spec.name);
  for (const name of Object.keys(spec.entityColumns ?? {})) {
    if (!spec.entities.some((e) => e.name === name)) {
      throw new InvalidInputError(
        `invalid feature view "${spec.name}": entityColumns names unknown entity "${name}"`,
      );
    }
  }
  for (const feature of Object.keys(spec.features ?? {})) assertIdentifier('feature', feature);
  for (const agg of spec.transform?.aggregations ?? []) {
    for (const window of spec.transform!.windows) assertIdentifier('feature', `${agg.name}_${window}`);
  }
  return { kind: 'featureView', ...spec };
}
