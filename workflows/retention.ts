import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { RetentionPolicy } from '../activities/erasure.js';
import { ACTIVITY_PROFILES } from '../constants.js';
import { scheduledTimeMs } from './scheduled-time.js';

const { purgeRetention } = proxyActivities<Activities>(ACTIVITY_PROFILES.data);

export type RetentionResult = Array<Awaited<ReturnType<Activities['purgeRetention']>>>;

/**
 * Started by a Temporal Schedule (`kaizen schedule purge`): as of the run's scheduled time, purges
 * each view's rows older than its retention, then prediction log entries older than the log's; every
 * purge is recorded (kaizen.retention_purges) and its counts are the run's result.
 */
export async function retentionWorkflow(
  input: RetentionPolicy & { asOfMs?: number },
): Promise<RetentionResult> {
  const asOfMs = input.asOfMs ?? scheduledTimeMs();
  const purgedBy = workflowInfo().workflowId;
  const results: RetentionResult = [];
  for (const [view, keep] of Object.entries(input.views ?? {}))
    results.push(await purgeRetention({ view, keep, asOfMs, purgedBy }));
  if (input.predictions !== undefined)
    results.push(await purgeRetention({ keep: input.predictions, asOfMs, purgedBy }));
  return results;
}
