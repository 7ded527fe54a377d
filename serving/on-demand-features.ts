/**
 * On-demand features of served requests: the pinned view's code (imported from its registered
 * module and checked against its fingerprint) computes them from the rows' request fields and the
 * stored features fetched for the same request, exactly as when the training set was built.
 */
import type { Db } from '../db/client.js';
import type { FeatureRef } from '../feature-store/feature-refs.js';
import {
  assertOnDemandInputs,
  splitOnDemandRefs,
  type ResolvedOnDemand,
} from '../feature-store/on-demand-registry.js';
import { computeRequestedOnDemand } from '../feature-store/on-demand-request.js';
import { RequestFieldError } from '../feature-store/on-demand-view.js';
import type { OnDemandFeatures } from './online-features.js';
import { badRequest, unknownView } from './request-plan.js';

/** Resolutions are re-read after this long: a new `latest` version appears without a notification. */
const RESOLUTION_TTL_MS = 1000;
const MAX_RESOLUTIONS = 1000;

export function createOnDemandFeatures(db: Db): OnDemandFeatures {
  const resolutions = new Map<string, { at: number; onDemand: Promise<ResolvedOnDemand[]> }>();

  function resolve(refs: FeatureRef[]): Promise<ResolvedOnDemand[]> {
    const key = refs.map((r) => `${r.view}@${r.version ?? ''}:${r.feature}`).join(',');
    const cached = resolutions.get(key);
    if (cached && Date.now() - cached.at < RESOLUTION_TTL_MS) return cached.onDemand;
    const onDemand = splitOnDemandRefs(db, refs).then(({ stored, onDemand }) => {
      if (stored.length > 0) {
        const { view, version } = stored[0];
        unknownView(view, version);
      }
      return onDemand;
    });
    if (resolutions.size >= MAX_RESOLUTIONS) resolutions.delete(resolutions.keys().next().value!);
    resolutions.set(key, { at: Date.now(), onDemand });
    // A failed resolution (unknown view, code that no longer matches) is not cached.
    onDemand.catch(() => resolutions.delete(key));
    return onDemand;
  }

  return async (refs, rows, fetched) => {
    const onDemand = await resolve(refs);
    try {
      assertOnDemandInputs(onDemand, new Set(Object.keys(fetched.columns)));
    } catch (error) {
      badRequest((error as Error).message);
    }
    let columns;
    try {
      columns = computeRequestedOnDemand(
        onDemand,
        rows.length,
        (field, i) => rows[i][field],
        fetched.columns,
      );
    } catch (error) {
      if (error instanceof RequestFieldError) badRequest(error.message);
      throw error;
    }
    return {
      columns,
      views: onDemand.map(({ view }) => ({
        name: view.name,
        version: view.version,
        onDemand: true,
        status: new Array(rows.length).fill('computed'),
        eventTs: new Array(rows.length).fill(null),
      })),
    };
  };
}
