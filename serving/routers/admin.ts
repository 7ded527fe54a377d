/** `admin.*` procedures. */
import { router } from '../trpc.js';

export const adminRouter = router({});
