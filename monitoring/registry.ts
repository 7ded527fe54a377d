/**
 * `kaizen apply` for monitoring's definitions as code: label sources and monitor policies, versioned
 * in the definitions registry (unchanged → no-op, changed → vN+1). A policy's label source must be
 * registered, now or before.
 */
import type { Db } from '../db/client.js';
import { InvalidInputError } from '../feature-store/index.js';
import {
  applyDefinition,
  findDefinition,
  getDefinition,
  type DefinitionApplyResult,
} from '../models/definitions.js';
import type { StoredLabelSource } from './labels/ingest.js';
import { labelSourceVersionedPart, type LabelSourceDefinition } from './labels/label-source.js';
import { monitorPolicyVersionedPart, parseMonitorPolicy, type MonitorPolicy } from './policy.js';

export async function applyMonitoringDefinitions(
  db: Db,
  defs: { labelSources: LabelSourceDefinition[]; monitorPolicies: MonitorPolicy[] },
): Promise<DefinitionApplyResult[]> {
  const results: DefinitionApplyResult[] = [];
  for (const source of defs.labelSources)
    results.push(await applyDefinition(db, 'labelSource', source.name, source, labelSourceVersionedPart));
  for (const policy of defs.monitorPolicies.map(parseMonitorPolicy)) {
    if (policy.labels !== undefined && !(await findDefinition(db, 'labelSource', policy.labels)))
      throw new InvalidInputError(
        `monitor policy of "${policy.model}": unknown label source "${policy.labels}" (define it with defineLabelSource)`,
      );
    results.push(
      await applyDefinition(db, 'monitorPolicy', policy.model, policy, monitorPolicyVersionedPart),
    );
  }
  return results;
}

/** A registered label source (its latest version, or `version`); unknown ones are a typed not-found error. */
export const getLabelSource = (db: Db, name: string, version?: number): Promise<StoredLabelSource> =>
  getDefinition<LabelSourceDefinition>(db, 'labelSource', name, version);
