/**
 * On-demand features of served requests: the pinned view's code (its registered bundle, loaded by the
 * feature store's resolver) computes them from the rows' request fields and the stored features
 * fetched for the same request, exactly as when the training set was built.
 */
import {
  assertOnDemandInputs,
  computeRequestedOnDemand,
  RequestFieldError,
  type ResolvedOnDemand,
} from '../feature-store/index.js';
import type { EntityRow, OnlineFeatureBatch } from './context.js';
import { asBadRequest, badRequest } from './request-plan.js';

export function computeServedOnDemand(
  onDemand: ResolvedOnDemand[],
  rows: EntityRow[],
  fetched: OnlineFeatureBatch,
): Pick<OnlineFeatureBatch, 'columns' | 'views'> {
  asBadRequest(() => assertOnDemandInputs(onDemand, new Set(Object.keys(fetched.columns))));
  let columns;
  try {
    columns = computeRequestedOnDemand(onDemand, rows.length, (field, i) => rows[i][field], fetched.columns);
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
}
