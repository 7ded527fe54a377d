import type { Column } from '../definitions/types.js';

/**
 * A feature-view version's offline rows, columnar, in ingestion order. Entity keys are
 * dictionary-encoded (`keys[keyCodes[i]]`) because a few thousand entities repeat over millions of
 * rows; times are epoch milliseconds. Produced by readOfflineRows and featureRowsFromArrow.
 */
export interface FeatureRows {
  length: number;
  keys: string[];
  keyCodes: Int32Array;
  eventTs: Float64Array;
  createdTs: Float64Array;
  columns: Record<string, Column>;
}
