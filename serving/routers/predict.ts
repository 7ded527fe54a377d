/** `predict` and `feedback.*`: merged at the top level of the app router. */
import { router } from '../trpc.js';

export const predictRouter = router({});
