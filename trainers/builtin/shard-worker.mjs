// A training worker thread's entry (see threads.ts). Plain JS because Node cannot start a worker
// from a .ts file: this registers tsx in the worker, then loads the TypeScript.
import { register } from 'tsx/esm/api';

register();
const { serveShard } = await import('./threads.ts');
serveShard();
