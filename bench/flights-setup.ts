/** What bench:pit and bench:train start from: the three flights views materialized and the 3M-flight spine. */
import path from 'node:path';
import { flightsDefinitions } from '../examples/flights/features.js';
import { FLIGHT_VIEW_FEATURES, writeFlightsSpine } from '../examples/flights/training-set.js';
import { runMaterialization } from '../runtime/materialization-runner.js';
import { log, type BenchStack } from './bench-stack.js';

/** Materializes the flights views and writes the spine; returns the spine's path. */
export async function prepareFlights({ config, store, temporal, work }: BenchStack): Promise<string> {
  await store.apply(flightsDefinitions());
  for (const view of Object.keys(FLIGHT_VIEW_FEATURES)) {
    log(`materializing ${view}…`);
    await runMaterialization({ store, temporal, taskQueue: config.taskQueue }, { view });
  }
  log('writing the spine (3M flights + label)…');
  const spine = path.join(work, 'spine.arrow');
  await writeFlightsSpine(config.dataRoot, spine);
  return spine;
}
