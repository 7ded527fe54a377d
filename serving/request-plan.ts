/**
 * The checked shape of a `features.get` request: refs parsed and grouped by view version (cached per
 * distinct ref list: product services send the same few lists over and over), and each row's stored
 * entity key for a view. Bad input is a BAD_REQUEST naming what is wrong.
 */
import { TRPCError } from '@trpc/server';
import {
  EntityKeyError,
  featureColumnName,
  groupRefsByView,
  parseFeatureRefs,
  requestKeys,
  type FeatureRef,
  type ViewRefs,
} from '../feature-store/index.js';
import type { EntityRow } from './context.js';
import type { ServedView } from './served-views.js';

export interface RequestPlan {
  /** Output columns `<view>__<feature>`, in request order. */
  columns: string[];
  views: ViewRefs[];
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

/** Runs `check`, turning the feature store's message into a BAD_REQUEST. */
export function asBadRequest<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    badRequest((error as Error).message);
  }
}

/** Parses refs and groups them by view version; a column asked for twice is an error. */
function planRequest(refs: readonly string[]): RequestPlan {
  if (refs.length === 0) badRequest('no features requested');
  const parsed = refs.map((text): FeatureRef => {
    const one = asBadRequest(() => parseFeatureRefs(text));
    if (one.length !== 1) badRequest(`invalid feature reference "${text}": expected <view>[@vN]:<feature>`);
    return one[0];
  });
  const views = asBadRequest(() => groupRefsByView(parsed));
  return { columns: parsed.map((ref) => featureColumnName(ref.view, ref.feature)), views };
}

/** Stored key of each row for the view; null (a null or blank key) reads as missing. */
export function entityKeys(view: ServedView, rows: readonly EntityRow[]): Array<string | null> {
  try {
    return requestKeys(
      view.view,
      rows.length,
      (entity, i) => (Object.hasOwn(rows[i], entity.joinKey) ? rows[i][entity.joinKey] : undefined),
      view.entities,
    );
  } catch (error) {
    if (error instanceof EntityKeyError) badRequest(error.message);
    throw error;
  }
}
