// A training worker thread's entry when running from sources (see threads.ts). Plain JS because Node
// cannot start a worker from a .ts file: this registers tsx in the worker, then loads the TypeScript.
import { register } from 'tsx/esm/api';

register();
await import('./shard-worker-entry.ts');
