/** The app router: one router per domain; `predict` sits at the top level. */
import { adminRouter } from './routers/admin.js';
import { featuresRouter } from './routers/features.js';
import { feedbackRouter } from './routers/feedback.js';
import { modelsRouter } from './routers/models.js';
import { predictRouter } from './routers/predict.js';
import { createCallerFactory, mergeRouters, router } from './trpc.js';

export const appRouter = mergeRouters(
  router({ features: featuresRouter, feedback: feedbackRouter, models: modelsRouter, admin: adminRouter }),
  predictRouter,
);

export type AppRouter = typeof appRouter;

/** In-process calls (tests, the CLI): same procedures, same checks, no HTTP. */
export const createCaller = createCallerFactory(appRouter);
