/**
 * The checked shape of a `features.get` request: refs parsed and grouped by view version (cached per
 * distinct ref list: product services send the same few lists over and over), and each row's stored
 * entity key for a view. Bad input is a BAD_REQUEST naming what is wrong.
 */
import { TRPCError } from '@trpc/server';
import { featureColumnName, parseFeatureRefs, type FeatureRef } from '../feature-store/feature-refs.js';
import { normalizeKey } from '../feature-store/historical.js';
import { KEY_SEPARATOR } from '../feature-store/key-codes.js';
import type { EntityRow } from './context.js';
import type { ServedView } from './view-resolver.js';

/** The refs of one view version (`version` undefined: the latest), in request order. */
export interface ViewRequest {
  name: string;
  version: number | undefined;
  refs: FeatureRef[];
}

export interface RequestPlan {
  /** Output columns `<view>__<feature>`, in request order. */
  columns: string[];
  views: ViewRequest[];
}

/** Distinct ref lists remembered; past this they are all forgotten at once. */
const MAX_PLANS = 1000;

export class RequestPlans {
  private readonly plans = new Map<string, RequestPlan>();

  /** The refs checked and grouped by view version; throws BAD_REQUEST on a bad list. */
  plan(refs: readonly string[]): RequestPlan {
    // Valid refs hold no newline, so a cached list joins to this text only when it is this list.
    const key = refs.join('\n');
    const cached = this.plans.get(key);
    if (cached && cached.columns.length === refs.length) return cached;
    const plan = planRequest(refs);
    if (this.plans.size >= MAX_PLANS) this.plans.clear();
    this.plans.set(key, plan);
    return plan;
  }
}

export function badRequest(message: string): never {
  throw new TRPCError({ code: 'BAD_REQUEST', message });
}

/** A requested view that is neither a stored nor an on-demand feature view. */
export function unknownView(name: string, version: number | undefined): never {
  badRequest(`unknown feature view "${name}${version === undefined ? '' : `@v${version}`}"`);
}

/** Parses refs and groups them by view version; a column asked for twice is an error. */
function planRequest(refs: readonly string[]): RequestPlan {
  if (refs.length === 0) badRequest('no features requested');
  const groups = new Map<string, ViewRequest>();
  const columns = new Set<string>();
  for (const text of refs) {
    let parsed: FeatureRef[];
    try {
      parsed = parseFeatureRefs(text);
    } catch (error) {
      badRequest((error as Error).message);
    }
    if (parsed.length !== 1)
      badRequest(`invalid feature reference "${text}": expected <view>[@vN]:<feature>`);
    const [ref] = parsed;
    const column = featureColumnName(ref.view, ref.feature);
    if (columns.has(column)) badRequest(`feature column ${column} requested twice`);
    columns.add(column);
    const key = `${ref.view}@${ref.version ?? 'latest'}`;
    const group = groups.get(key);
    if (group) group.refs.push(ref);
    else groups.set(key, { name: ref.view, version: ref.version, refs: [ref] });
  }
  return { columns: [...columns], views: [...groups.values()] };
}

/** Stored key of each row for the view (KEY_SEPARATOR); null (a null or blank key) reads as missing. */
export function entityKeys(view: ServedView, rows: readonly EntityRow[]): Array<string | null> {
  return rows.map((row, i) => {
    let key: string | null = '';
    for (const [k, entity] of view.entities.entries()) {
      if (!Object.hasOwn(row, entity.joinKey))
        badRequest(`row ${i} has no key for entity "${entity.name}" of ${view.id}: pass "${entity.joinKey}"`);
      const part = entityKeyPart(row[entity.joinKey], entity, i);
      if (part === null) key = null;
      else if (key !== null) key = k === 0 ? part : key + KEY_SEPARATOR.entity + part;
    }
    return key;
  });
}

function entityKeyPart(
  value: EntityRow[string],
  entity: ServedView['entities'][number],
  row: number,
): string | null {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) badRequest(`row ${row}: key "${entity.joinKey}" is ${value}`);
    return String(value);
  }
  if (Array.isArray(value) && value.length !== entity.columns) {
    badRequest(
      `row ${row}: key "${entity.joinKey}" of entity "${entity.name}" has ${entity.columns} part(s), got ${value.length}`,
    );
  }
  return normalizeKey(value);
}
