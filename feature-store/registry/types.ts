/** What the registry hands out: registered, immutable versions of definitions, and apply outcomes. */
import type { KeyEncoding } from '../definitions/entity-keys.js';
import type { OnDemandViewDefinition } from '../definitions/on-demand-view.js';
import type { FeatureField, FeatureViewDefinition } from '../definitions/types.js';
import type { StoreTables } from './store-tables.js';

/** One immutable, registered version of a feature view: `name@vN`. */
export interface ViewVersion {
  name: string;
  version: number;
  fingerprint: string;
  definition: FeatureViewDefinition;
  features: FeatureField[];
  tables: StoreTables;
  /** How this version spells stored entity keys (older versions keep the encoding they were written with). */
  keyEncoding: KeyEncoding;
}

/** One registered on-demand view version, with the pinned code that computes it loaded. */
export interface OnDemandVersion {
  name: string;
  version: number;
  fingerprint: string;
  definition: OnDemandViewDefinition;
  features: FeatureField[];
}

export type ApplyStatus = 'created' | 'unchanged' | 'new-version';

export interface ApplyResult {
  kind: 'entity' | 'featureView' | 'onDemandView';
  name: string;
  status: ApplyStatus;
  version?: number;
  /** For a new version: what changed against the previous one. */
  diff: string[];
}
