/** `models.*` procedures: what product services may ask about served models (scope `predict`). */
import { TRPCError } from '@trpc/server';
import { eq } from 'drizzle-orm';
import { z } from 'zod';
import { describeModel, listModels } from '../../models/catalog.js';
import type { Db } from '../../db/client.js';
import { isUsableTime } from '../../feature-store/index.js';
import { models } from '../../db/schema.js';
import { aliasHistory } from '../../models/registry.js';
import { windowReports } from '../../monitoring/report.js';
import { latestWindowsRange, readAlerts, readResults } from '../../monitoring/results.js';
import { text } from '../input-text.js';
import { query, router } from '../trpc.js';

const modelName = text().trim().min(1).max(100);

/**
 * An ISO 8601 instant within the times Kaizen stores, [1900, 2200): zod's check alone accepts
 * year 0, which Postgres has not (the query failed, a 500).
 */
const instant = z.iso
  .datetime({ offset: true })
  .refine((iso) => isUsableTime(Date.parse(iso)), { message: 'must lie within [1900-01-01, 2200-01-01)' });

/** An unknown model is the caller's mistake (NOT_FOUND), not a server error. */
async function requireModel(db: Db, name: string): Promise<void> {
  const [row] = await db.select({ name: models.name }).from(models).where(eq(models.name, name));
  if (!row) throw new TRPCError({ code: 'NOT_FOUND', message: `unknown model "${name}"` });
}

export const modelsRouter = router({
  /** Each model with its latest version, champion and challenger. */
  list: query({ scope: 'predict', input: z.void(), run: ({ deps }) => listModels(deps.db) }),
  /** Versions (pinned features, validation AUC), aliases, shadow flag and the latest alias changes. */
  get: query({
    scope: 'predict',
    input: z.object({ model: modelName }),
    async run({ deps }, input) {
      await requireModel(deps.db, input.model);
      return describeModel(deps.db, input.model);
    },
  }),
  /**
   * The monitor's windows (oldest first) within [since, until): per version, performance overall and
   * per slice, drift and quality per input and of the score, and the alerts each window raised.
   */
  monitoring: query({
    scope: 'predict',
    input: z.object({
      model: modelName,
      since: instant.optional(),
      until: instant.optional(),
      /** The latest this many windows. */
      limit: z.number().int().min(1).max(1000).default(30),
    }),
    async run({ deps }, input) {
      await requireModel(deps.db, input.model);
      const span = await latestWindowsRange(
        deps.db,
        input.model,
        {
          startMs: input.since ? Date.parse(input.since) : undefined,
          endMs: input.until ? Date.parse(input.until) : undefined,
        },
        input.limit,
      );
      if (!span) return { model: input.model, windows: [] };
      const [results, alerts] = await Promise.all([
        readResults(deps.db, input.model, span),
        readAlerts(deps.db, input.model, span),
      ]);
      // The span may also hold overlapping (sliding) windows older than the latest `limit`.
      const reports = windowReports(results, alerts);
      const kept = [...new Set(reports.map((r) => `${r.startMs}:${r.endMs}`))].slice(-input.limit);
      return { model: input.model, windows: reports.filter((r) => kept.includes(`${r.startMs}:${r.endMs}`)) };
    },
  }),
  /** The alias audit log, newest first. */
  history: query({
    scope: 'predict',
    input: z.object({ model: modelName, limit: z.number().int().min(1).max(1000).default(100) }),
    async run({ deps }, input) {
      await requireModel(deps.db, input.model);
      return aliasHistory(deps.db, input.model).limit(input.limit);
    },
  }),
});
