// A training worker thread's entry in the compiled build (see threads.ts); from sources,
// shard-worker.mjs registers tsx first and then loads this.
import { serveShard } from './threads.js';

serveShard();
