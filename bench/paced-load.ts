/**
 * One open-loop latency run, in its own process: `paced-load.ts <job JSON>` prints a Latency as JSON.
 * A process of its own so that the load generator's event loop and heap are its alone: in the
 * benchmark's process, a major GC of the gigabytes the stack's worker holds would stall the generator,
 * and its stalls would be counted as the server's.
 */
import { pacedLatency, type PacedJob } from './load.js';

const job = JSON.parse(process.argv[2]) as PacedJob;
pacedLatency(job).then(
  (latency) => console.log(JSON.stringify(latency)),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
