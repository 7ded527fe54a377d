/** `features.*` procedures (scope `features:read`). */
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import type { Db } from '../../db/client.js';
import { isFeatureRef, type OnlineStatus } from '../../feature-store/index.js';
import { ModelNotFoundError } from '../../models/errors.js';
import { findAliasedVersion } from '../../models/registry.js';
import { entityRowSchema, type OnlineFeatureBatch } from '../context.js';
import { text } from '../input-text.js';
import { isoTime, jsonValue, type JsonValue } from '../json-values.js';
import { query, router } from '../trpc.js';

const getInput = z
  .strictObject({
    /** `view[@vN]:feature`; the latest version when none is pinned. */
    features: z.array(text().min(1).max(200)).min(1).max(1000).optional(),
    /** A model name: its champion's pinned features, exactly what it was trained on. */
    featureService: text().trim().min(1).max(100).optional(),
    entities: z.array(entityRowSchema).min(1),
  })
  .refine((input) => (input.features === undefined) !== (input.featureService === undefined), {
    message: 'give exactly one of features and featureService',
  });

interface ViewState {
  version: number;
  status: OnlineStatus | 'computed';
  eventTs: string | null;
}

export const featuresRouter = router({
  /** Online values per entity row, and per view the version read, the row's status and event time. */
  get: query({
    scope: 'features:read',
    input: getInput,
    async run({ deps }, input) {
      if (input.entities.length > deps.limits.maxRows)
        throw new TRPCError({
          code: 'BAD_REQUEST',
          message: `${input.entities.length} entity rows: at most ${deps.limits.maxRows} per request`,
        });
      const refs = input.features ?? (await serviceFeatures(deps.db, input.featureService!));
      const batch = await deps.features.get(refs, input.entities);
      const columns = Object.keys(batch.columns); // in request order
      return { features: columns, results: jsonRows(batch, columns) };
    },
  }),
});

/**
 * A feature service is a model: its champion's pinned `view@vN:feature` list (request fields the model
 * also reads are the caller's to send, not fetched).
 */
async function serviceFeatures(db: Db, model: string): Promise<string[]> {
  const unknown = () =>
    new TRPCError({
      code: 'BAD_REQUEST',
      message: `unknown feature service "${model}": no model of that name has a champion`,
    });
  let champion;
  try {
    champion = await findAliasedVersion(db, model, 'champion');
  } catch (error) {
    if (error instanceof ModelNotFoundError) throw unknown();
    throw error;
  }
  if (!champion) throw unknown();
  return (champion.features as string[]).filter(isFeatureRef);
}

/** The batch as JSON: one object per row (timestamps as ISO strings). */
function jsonRows(batch: OnlineFeatureBatch, columns: string[]) {
  const results = new Array<{ values: Record<string, JsonValue>; views: Record<string, ViewState> }>(
    batch.rows,
  );
  for (let i = 0; i < batch.rows; i++) {
    const values: Record<string, JsonValue> = {};
    for (const name of columns) values[name] = jsonValue(batch.columns[name], i);
    const views: Record<string, ViewState> = {};
    for (const view of batch.views) {
      const eventTs = view.eventTs[i];
      views[view.name] = {
        version: view.version,
        status: view.status[i],
        eventTs: eventTs === null ? null : isoTime(eventTs),
      };
    }
    results[i] = { values, views };
  }
  return results;
}
