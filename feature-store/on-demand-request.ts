/**
 * On-demand features of a request (a historical lookup, a served request, a training-set spine): the
 * pinned code computes them from request columns and the fetched features it reads, by one path.
 */
import { featureColumnName } from './feature-refs.js';
import type { ResolvedOnDemand } from './on-demand-registry.js';
import { computeOnDemand, requestColumns, type OnDemandViewDefinition } from './on-demand-view.js';
import type { Column } from './types.js';

/** `features` of one on-demand view for `rows`, keyed by their column `<view>__<feature>`. */
export function computeViewColumns(
  definition: OnDemandViewDefinition,
  features: ReadonlyArray<{ name: string }>,
  rows: number,
  request: Record<string, Column>,
  fetched: (column: string) => Column,
): Record<string, Column> {
  const inputs = Object.fromEntries((definition.featureInputs ?? []).map((c) => [c, fetched(c)]));
  const output = computeOnDemand(definition, { rows, request, features: inputs });
  return Object.fromEntries(
    features.map((f) => [featureColumnName(definition.name, f.name), output[f.name]]),
  );
}

/** Request fields read with `valueOf`, fetched features from `fetched`. */
export function computeRequestedOnDemand(
  onDemand: ResolvedOnDemand[],
  rows: number,
  valueOf: (field: string, row: number) => unknown,
  fetched: Record<string, Column>,
): Record<string, Column> {
  const columns: Record<string, Column> = {};
  for (const { view, features } of onDemand) {
    const request = requestColumns(view.definition, rows, valueOf);
    Object.assign(
      columns,
      computeViewColumns(view.definition, features, rows, request, (c) => fetched[c]),
    );
  }
  return columns;
}
