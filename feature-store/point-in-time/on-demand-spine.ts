/**
 * On-demand features of a training set: request fields come from spine columns (the spine's
 * `request` mapping, else the column named like the field) and the view's own code computes them,
 * exactly as a server does from a request.
 */
import { onDemandRequestFields } from '../definitions/on-demand-view.js';
import type { ViewResolver } from '../registry/resolver.js';
import { computeViewColumns, type ResolvedOnDemand } from '../on-demand/compute.js';
import { rawToColumn } from '../sources/columnar.js';
import type { SourceData } from '../sources/source-data.js';
import type { SpineSpec } from './spine.js';
import type { Column, FeatureField, FeatureType } from '../definitions/types.js';
import { InvalidInputError } from '../definitions/errors.js';

/** An on-demand view version pinned by a training-set plan. */
export interface PlannedOnDemand {
  name: string;
  version: number;
  fingerprint: string;
  features: FeatureField[];
  /** Request field → spine column. */
  request: Record<string, string>;
}

/** A spine column as the request field it feeds; the timestamp column is the parsed event time. */
function spineRequestColumn(data: SourceData, spine: SpineSpec, column: string, type: FeatureType): Column {
  if (column === spine.tsColumn && type === 'timestamp') {
    const valid = new Uint8Array(data.length);
    for (let i = 0; i < data.length; i++) valid[i] = Number.isNaN(data.eventTs[i]) ? 0 : 1;
    return { type, values: data.eventTs, valid };
  }
  const converted = rawToColumn(data.column(column), type === 'int64' ? 'int64' : 'float64');
  if (converted.type !== type)
    throw new Error(`spine column "${column}" holds ${converted.type} values, expected ${type}`);
  return converted;
}

/** Pins each on-demand view and checks the spine has its request fields, of the right types. */
export function planOnDemand(
  data: SourceData,
  spine: SpineSpec,
  onDemand: ResolvedOnDemand[],
): PlannedOnDemand[] {
  return onDemand.map(({ view, features }) => {
    const request: Record<string, string> = {};
    for (const field of onDemandRequestFields(view.definition)) {
      const column = spine.request?.[field.name] ?? field.name;
      try {
        spineRequestColumn(data, spine, column, field.type);
      } catch (error) {
        throw new InvalidInputError(
          `invalid spine for on-demand view ${view.name}@v${view.version}: request field "${field.name}" (${field.type}) from spine column "${column}": ${(error as Error).message}; map it with the spine's request option`,
        );
      }
      request[field.name] = column;
    }
    return { name: view.name, version: view.version, fingerprint: view.fingerprint, features, request };
  });
}

/** Computes the planned on-demand features for every spine row into `columns` (`<view>__<feature>`). */
export async function computeOnDemandForSpine(
  deps: { resolver: ViewResolver },
  data: SourceData,
  spine: SpineSpec,
  planned: PlannedOnDemand[],
  columns: Map<string, Column>,
): Promise<void> {
  for (const p of planned) {
    const registered = await deps.resolver.resolve(p.name, p.version);
    if (registered?.kind !== 'onDemand')
      throw new Error(`on-demand view ${p.name}@v${p.version} is not registered`);
    const { view } = registered;
    const request = Object.fromEntries(
      onDemandRequestFields(view.definition).map((f) => [
        f.name,
        spineRequestColumn(data, spine, p.request[f.name], f.type),
      ]),
    );
    const computed = computeViewColumns(view.definition, p.features, data.length, request, (c) =>
      columns.get(c)!,
    );
    for (const [name, column] of Object.entries(computed)) columns.set(name, column);
  }
}
