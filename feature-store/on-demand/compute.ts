/**
 * Runs on-demand views: the pinned code computes a view's features from request columns and the
 * fetched features it reads, by one path for historical lookups, served requests and training-set
 * spines. Request values are checked against their declared types; the function's output is checked
 * against the view's schema.
 */
import { InvalidInputError } from '../definitions/errors.js';
import type { OnDemandInput, OnDemandViewDefinition } from '../definitions/on-demand-view.js';
import { onDemandRequestFields } from '../definitions/on-demand-view.js';
import type { Column, FeatureField } from '../definitions/types.js';
import { featureColumnName } from '../refs/feature-ref.js';
import type { OnDemandVersion } from '../registry/types.js';
import { emptyColumn, FEATURE_CODECS } from '../columns/codecs.js';

/** Requested features of one on-demand view version. */
export interface ResolvedOnDemand {
  view: OnDemandVersion;
  features: FeatureField[];
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
export class RequestFieldError extends InvalidInputError {
  override name = 'RequestFieldError';
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
        const raw = valueOf(name, i);
        value = raw === null || raw === undefined ? null : FEATURE_CODECS[type].fromRequest(raw);
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
