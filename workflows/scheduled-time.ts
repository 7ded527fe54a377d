/** Shared by the workflows Temporal Schedules start (not a workflow itself). */
import { workflowInfo } from '@temporalio/workflow';
import { SEARCH_ATTRIBUTE_KEYS } from '../constants.js';

/** The run's time: its scheduled time when a Temporal Schedule started it, else when it started. */
export function scheduledTimeMs(): number {
  const info = workflowInfo();
  return (
    info.typedSearchAttributes.get(SEARCH_ATTRIBUTE_KEYS.scheduledStartTime) ?? info.runStartTime
  ).getTime();
}
