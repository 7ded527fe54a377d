import { compactColumn, type PreparedRows } from './row-preparation.js';
import type { Column, FeatureFrame, FeatureViewDefinition, TimeRange } from '../definitions/types.js';
import { plainFeatures } from '../definitions/view-schema.js';

/**
 * Plain (projection) views: one output row per prepared row whose event time lies in `range`, with
 * the view's features in declaration order. Prepared columns are already cast and keyed by feature
 * name; rows outside the range (a wider read) are filtered out here.
 */
export function projectRows(
  view: FeatureViewDefinition,
  input: PreparedRows,
  range: TimeRange,
): FeatureFrame {
  const ts = input.eventTs;
  let kept = 0;
  for (let i = 0; i < input.length; i++) if (ts[i] >= range.startMs && ts[i] < range.endMs) kept++;
  const keep = new Uint32Array(kept);
  for (let i = 0, k = 0; i < input.length; i++)
    if (ts[i] >= range.startMs && ts[i] < range.endMs) keep[k++] = i;

  const entityKey = new Array<string>(kept);
  const eventTs = new Float64Array(kept);
  const createdTs = input.createdTs ? new Float64Array(kept) : undefined;
  for (let k = 0; k < kept; k++) {
    entityKey[k] = input.keys[input.keyCodes[keep[k]]];
    eventTs[k] = ts[keep[k]];
    if (createdTs) createdTs[k] = input.createdTs![keep[k]];
  }
  const columns: Record<string, Column> = {};
  for (const feature of plainFeatures(view)) {
    const column = input.columns[feature.name];
    if (!column) throw new Error(`feature view "${view.name}": feature "${feature.name}" was not prepared`);
    columns[feature.name] = compactColumn(column, keep);
  }
  return { length: kept, entityKey, eventTs, ...(createdTs ? { createdTs } : {}), columns };
}
