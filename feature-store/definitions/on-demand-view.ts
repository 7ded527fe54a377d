/**
 * On-demand views: features computed at request time by a pure TypeScript function of the request
 * (at training: the spine row) and of already-fetched features. `kaizen apply` snapshots the code of
 * each version as a content-addressed bundle; training sets, batch lookups and servers all run that
 * pinned bundle, so the two sides can never skew (see registry/code-bundles.ts).
 */
import { assertIdentifier } from './identifiers.js';
import type { Column, FeatureField, FeatureType } from './types.js';
import { InvalidInputError } from './errors.js';

export interface OnDemandInput {
  rows: number;
  /** Request fields declared by the view, by name. */
  request: Record<string, Column>;
  /** Declared feature inputs, by column name `<view>__<feature>`. */
  features: Record<string, Column>;
}

export interface OnDemandViewDefinition {
  kind: 'onDemandView';
  name: string;
  /** Request fields read by `compute` (training: spine columns, mapped by the spine's `request`). */
  request: Record<string, FeatureType>;
  /** Already-fetched features read by `compute`, as `<view>__<feature>`; they must be requested too. */
  featureInputs?: string[];
  /** Output features. */
  features: Record<string, FeatureType>;
  /** Pure and columnar: one output column per feature, `rows` long; no I/O, no clock, no randomness. */
  compute: (input: OnDemandInput) => Record<string, Column>;
  description?: string;
}

export function defineOnDemandView(spec: Omit<OnDemandViewDefinition, 'kind'>): OnDemandViewDefinition {
  assertIdentifier('on-demand view', spec.name);
  for (const name of Object.keys(spec.request)) assertIdentifier('request field', name);
  if (Object.keys(spec.features).length === 0)
    throw new InvalidInputError(`invalid on-demand view "${spec.name}": it needs at least one feature`);
  for (const name of Object.keys(spec.features)) assertIdentifier('feature', name);
  if (typeof spec.compute !== 'function')
    throw new InvalidInputError(`invalid on-demand view "${spec.name}": compute must be a function`);
  return { kind: 'onDemandView', ...spec };
}

const fields = (record: Record<string, FeatureType>): FeatureField[] =>
  Object.entries(record).map(([name, type]) => ({ name, type }));

export const onDemandRequestFields = (view: OnDemandViewDefinition) => fields(view.request);
export const onDemandFeatureFields = (view: OnDemandViewDefinition) => fields(view.features);
