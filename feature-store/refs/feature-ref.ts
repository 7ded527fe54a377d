/**
 * Feature references as users write them — `view[@vN]:feature` — and the column names they become
 * (`<view>__<feature>`, as in training sets and served batches). Pure parsing: no registry access.
 */
import { InvalidInputError } from '../definitions/errors.js';

/** A requested feature: `view[@vN]:feature`; no version means the latest. */
export interface FeatureRef {
  view: string;
  version?: number;
  feature: string;
}

/** Parses `name` or `name@vN`. */
export function parseViewRef(ref: string): { name: string; version?: number } {
  const match = /^([a-z][a-z0-9_]*)(?:@v(\d+))?$/.exec(ref);
  if (!match)
    throw new InvalidInputError(`invalid feature view reference "${ref}": expected <view> or <view>@v<N>`);
  return { name: match[1], version: match[2] === undefined ? undefined : Number(match[2]) };
}

/** Parses `view[@vN]:feature,…`. */
export function parseFeatureRefs(text: string): FeatureRef[] {
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((ref) => {
      const [view, feature, extra] = ref.split(':');
      if (!feature || extra !== undefined)
        throw new InvalidInputError(`invalid feature reference "${ref}": expected <view>[@vN]:<feature>`);
      const { name, version } = parseViewRef(view);
      return { view: name, version, feature };
    });
}

export const featureColumnName = (view: string, feature: string) => `${view}__${feature}`;

/** A model's pinned feature is a ref (`view@vN:feature`) or else a request field, read as named. */
export const isFeatureRef = (pinned: string) => pinned.includes(':');

/** The input column of each pinned feature: `<view>__<feature>` for a ref, a request field's own name. */
export function pinnedFeatureColumns(pinned: readonly string[]): string[] {
  return pinned.map((feature) => {
    if (!isFeatureRef(feature)) return feature;
    const [ref] = parseFeatureRefs(feature);
    return featureColumnName(ref.view, ref.feature);
  });
}

/** The refs of one view version (`version` undefined: the latest), in request order. */
export interface ViewRefs {
  name: string;
  version: number | undefined;
  refs: FeatureRef[];
}

/**
 * Groups refs by view version, in first-appearance order; a column asked for twice is an error.
 * Every path that takes a feature list (training sets, lookups, serving) groups with this.
 */
export function groupRefsByView(refs: readonly FeatureRef[]): ViewRefs[] {
  const groups = new Map<string, ViewRefs>();
  const columns = new Set<string>();
  for (const ref of refs) {
    const column = featureColumnName(ref.view, ref.feature);
    if (columns.has(column))
      throw new InvalidInputError(`invalid request: feature column ${column} requested twice`);
    columns.add(column);
    const key = `${ref.view}@${ref.version ?? 'latest'}`;
    const group = groups.get(key);
    if (group) group.refs.push(ref);
    else groups.set(key, { name: ref.view, version: ref.version, refs: [ref] });
  }
  return [...groups.values()];
}
