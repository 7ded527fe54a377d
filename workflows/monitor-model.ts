import {
  defineQuery,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { MonitorWindowInput } from '../activities/monitoring.js';
import { ACTIVITY_PROFILES, MATERIALIZATION, SEARCH_ATTRIBUTE_KEYS } from '../constants.js';
import type { MonitorSummary } from '../monitoring/monitor.js';
import { startAlertResponse } from './alert-response.js';

export const monitorStageQuery = defineQuery<string>('stage');

const short = proxyActivities<Activities>(ACTIVITY_PROFILES.short);
const data = proxyActivities<Activities>(ACTIVITY_PROFILES.data);

/**
 * One monitor window of a model: pin its policy, ingest the label source's chunks that can hold the
 * window's labels and join them to its predictions, then analyze the window against each version's
 * reference profile, store the results and raise the policy's alerts, whose answer it starts.
 */
export async function monitorModelWorkflow(
  input: MonitorWindowInput & {
    /** Start the answer to new alerts (default); a scheduled run answers its windows' alerts once. */
    respond?: boolean;
  },
): Promise<MonitorSummary> {
  let stage = 'plan';
  setHandler(monitorStageQuery, () => stage);
  upsertSearchAttributes([{ key: SEARCH_ATTRIBUTE_KEYS.model, value: input.model }]);
  const plan = await short.planMonitorWindow(input);
  if (plan.labels) {
    const { source, version, chunks } = plan.labels;
    stage = 'ingest labels';
    let next = 0;
    const lane = async () => {
      while (next < chunks.length) {
        const index = next++;
        await data.ingestLabelChunk({ source, version, ...chunks[index], includeUntimed: index === 0 });
      }
    };
    await Promise.all(
      Array.from({ length: Math.min(MATERIALIZATION.maxConcurrentChunks, chunks.length) }, lane),
    );
    stage = 'join labels';
    await data.resolveLabels({
      source,
      version,
      model: input.model,
      startMs: input.startMs,
      endMs: input.endMs,
    });
  }
  stage = 'analyze';
  const summary = await data.computeMonitorWindow({
    ...input,
    policy: plan.policy,
    computedBy: workflowInfo().workflowId,
  });
  if (input.respond !== false) {
    stage = 'respond';
    summary.response = await startAlertResponse(input.model, [summary], input.asOfMs);
  }
  stage = 'done';
  return summary;
}
