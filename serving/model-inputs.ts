/**
 * A model's input columns for one predict request: fetched online for entity rows (exactly the
 * model's pinned feature versions, so serving reads what training read), or taken from feature rows
 * the caller supplies, checked against the model's inputs. Bad input is a BAD_REQUEST, never a default.
 */
import { isFeatureRef, type Column } from '../feature-store/index.js';
import type { EntityRow, FeatureRow, OnlineFeatures } from './context.js';
import type { ServedModel } from './model-server.js';
import { badRequest } from './request-plan.js';

export interface ModelInputs {
  columns: Record<string, Column>;
  rows: number;
}

/** Pinned `view@vN:feature` refs come from the online store; spine columns from the entity rows. */
export async function fetchModelInputs(
  features: OnlineFeatures,
  model: ServedModel,
  entities: EntityRow[],
): Promise<ModelInputs> {
  const refs = model.features.filter(isFeatureRef);
  const columns = refs.length > 0 ? { ...(await features.get(refs, entities)).columns } : {};
  model.features.forEach((feature, k) => {
    if (isFeatureRef(feature)) return;
    const missing = entities.findIndex((row) => !Object.hasOwn(row, feature));
    if (missing >= 0)
      badRequest(`${describe(model)} reads request field "${feature}": row ${missing} lacks it`);
    columns[model.inputColumns[k]] = inputColumn(
      model,
      model.inputColumns[k],
      entities.map((row) => row[feature]),
    );
  });
  return { columns, rows: entities.length };
}

/** Every input of the model must be present in every row (null for missing); no other keys. */
export function suppliedModelInputs(model: ServedModel, rows: FeatureRow[]): ModelInputs {
  const expected = new Set(model.inputColumns);
  const unknown = new Set(rows.flatMap((row) => Object.keys(row).filter((key) => !expected.has(key))));
  const missing = model.inputColumns.filter((name) => rows.some((row) => !Object.hasOwn(row, name)));
  if (missing.length > 0 || unknown.size > 0) {
    const problems = [
      missing.length > 0 ? `missing inputs: ${missing.join(', ')}` : '',
      unknown.size > 0 ? `unknown inputs: ${[...unknown].join(', ')}` : '',
    ];
    badRequest(`${describe(model)}: ${problems.filter(Boolean).join('; ')}`);
  }
  const columns: Record<string, Column> = {};
  for (const name of model.inputColumns)
    columns[name] = inputColumn(
      model,
      name,
      rows.map((row) => row[name]),
    );
  return { columns, rows: rows.length };
}

const describe = (model: ServedModel) => `model ${model.name}@v${model.version}`;

/** One input column typed as the model reads it: strings, or numbers (booleans as 0/1). */
function inputColumn(model: ServedModel, name: string, values: unknown[]): Column {
  const rows = values.length;
  const valid = new Uint8Array(rows);
  const wrongType = (i: number, expected: string) =>
    badRequest(
      `${describe(model)}: input "${name}" expects ${expected}; row ${i} has ${JSON.stringify(values[i])}`,
    );
  if (model.stringInputs.has(name)) {
    const strings: (string | null)[] = new Array(rows);
    values.forEach((value, i) => {
      if (value !== null && typeof value !== 'string') wrongType(i, 'a string or null');
      strings[i] = value as string | null;
      valid[i] = value === null ? 0 : 1;
    });
    return { type: 'string', values: strings, valid };
  }
  const numbers = new Float64Array(rows);
  values.forEach((value, i) => {
    if (value === null) return;
    if (typeof value === 'boolean') numbers[i] = value ? 1 : 0;
    else if (typeof value === 'number') numbers[i] = value;
    else wrongType(i, 'a number, a boolean or null');
    valid[i] = 1;
  });
  return { type: 'float64', values: numbers, valid };
}
