/**
 * On-demand views: features computed at request time by a pure TypeScript function of the request
 * (at training: the spine row) and of already-fetched features. The same function runs when training
 * sets are built and when serving, so the two can never skew. A view's version covers its request
 * fields, feature schema and the function's source text.
 */
import { createHash } from 'node:crypto';
import { canonicalJson } from './fingerprint.js';
import { assertIdentifier } from './identifiers.js';
import { emptyColumn } from './sources/columnar.js';
import { parseIsoTimestamp } from './timestamp-text.js';
import type { Column, FeatureField, FeatureType } from './types.js';

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
    throw new Error(`invalid on-demand view "${spec.name}": it needs at least one feature`);
  for (const name of Object.keys(spec.features)) assertIdentifier('feature', name);
  if (typeof spec.compute !== 'function')
    throw new Error(`invalid on-demand view "${spec.name}": compute must be a function`);
  return { kind: 'onDemandView', ...spec };
}

const fields = (record: Record<string, FeatureType>): FeatureField[] =>
  Object.entries(record).map(([name, type]) => ({ name, type }));

export const onDemandRequestFields = (view: OnDemandViewDefinition) => fields(view.request);
export const onDemandFeatureFields = (view: OnDemandViewDefinition) => fields(view.features);

/** What the registry stores: everything that defines the output, the function's source included. */
export function onDemandVersionedPart(view: OnDemandViewDefinition): Record<string, unknown> {
  return {
    request: view.request,
    featureInputs: view.featureInputs ?? [],
    features: view.features,
    source: view.compute.toString(),
  };
}

export function onDemandFingerprint(view: OnDemandViewDefinition): string {
  return createHash('sha256')
    .update(canonicalJson(onDemandVersionedPart(view)))
    .digest('hex');
}

/**
 * Runs a view's function and checks what it returns: every declared feature, of its type, `rows`
 * long. A function that breaks its contract fails loudly instead of feeding a model garbage.
 */
export function computeOnDemand(view: OnDemandViewDefinition, input: OnDemandInput): Record<string, Column> {
  const output = view.compute(input);
  const columns: Record<string, Column> = {};
  for (const [name, type] of Object.entries(view.features)) {
    const column = output[name];
    const problem = !column
      ? 'is missing'
      : column.type !== type
        ? `has type ${column.type}, declared ${type}`
        : column.values.length !== input.rows
          ? `has ${column.values.length} values for ${input.rows} rows`
          : column.valid.length !== input.rows
            ? `has ${column.valid.length} validity flags for ${input.rows} rows`
            : undefined;
    if (problem) throw new Error(`on-demand view "${view.name}": feature "${name}" ${problem}`);
    columns[name] = column;
  }
  return columns;
}

/** A request field value that does not fit its declared type: the caller's mistake. */
export class RequestFieldError extends Error {
  override name = 'RequestFieldError';
}

/** A request value as a column entry; throws a message naming the field when it does not fit its type. */
function requestValue(type: FeatureType, value: unknown): number | string | null {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'timestamp': {
      const ms =
        typeof value === 'number' ? value : typeof value === 'string' ? parseIsoTimestamp(value) : NaN;
      if (!Number.isFinite(ms)) throw new Error('expected an ISO timestamp or epoch milliseconds');
      return ms;
    }
    case 'float64':
    case 'int64':
      if (typeof value !== 'number' || !Number.isFinite(value)) throw new Error('expected a finite number');
      if (type === 'int64' && !Number.isSafeInteger(value)) throw new Error('expected an integer');
      return value;
    case 'bool':
      if (typeof value !== 'boolean') throw new Error('expected true or false');
      return value ? 1 : 0;
    case 'string':
      if (typeof value !== 'string') throw new Error('expected a string');
      return value;
  }
}

/**
 * Request fields as columns, from any row layout (`valueOf(field, row)`). A field may be null (the
 * function sees it as missing) but a present value must have the declared type.
 */
export function requestColumns(
  view: OnDemandViewDefinition,
  rows: number,
  valueOf: (field: string, row: number) => unknown,
): Record<string, Column> {
  const columns: Record<string, Column> = {};
  for (const { name, type } of onDemandRequestFields(view)) {
    const column = emptyColumn(type, rows);
    for (let i = 0; i < rows; i++) {
      let value: number | string | null;
      try {
        value = requestValue(type, valueOf(name, i));
      } catch (error) {
        throw new RequestFieldError(
          `invalid request field "${name}" of row ${i} (for on-demand view ${view.name}): ${(error as Error).message}`,
        );
      }
      if (value === null) continue;
      column.values[i] = value;
      column.valid[i] = 1;
    }
    columns[name] = column;
  }
  return columns;
}
