/**
 * On-demand features of a request (a historical lookup, a served request): request fields read with
 * `valueOf`, fetched features from `fetched`; the pinned code computes them as for training sets.
 */
import { featureColumnName } from './feature-refs.js';
import type { ResolvedOnDemand } from './on-demand-registry.js';
import { computeOnDemand, requestColumns } from './on-demand-view.js';
import type { Column } from './types.js';

export function computeRequestedOnDemand(
  onDemand: ResolvedOnDemand[],
  rows: number,
  valueOf: (field: string, row: number) => unknown,
  fetched: Record<string, Column>,
): Record<string, Column> {
  const columns: Record<string, Column> = {};
  for (const { view, features } of onDemand) {
    const inputs = Object.fromEntries((view.definition.featureInputs ?? []).map((c) => [c, fetched[c]]));
    const output = computeOnDemand(view.definition, {
      rows,
      request: requestColumns(view.definition, rows, valueOf),
      features: inputs,
    });
    for (const f of features) columns[featureColumnName(view.name, f.name)] = output[f.name];
  }
  return columns;
}
