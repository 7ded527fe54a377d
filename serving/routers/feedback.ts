/** `feedback.*`: delayed labels from product services (scope `feedback:write`), in batches. */
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { recordFeedback } from '../../monitoring/labels/feedback.js';
import { entityRowSchema } from '../context.js';
import { text } from '../input-text.js';
import { mutation, router } from '../trpc.js';

/** A label is binary: 0/1 or false/true. */
const label = z.union([z.literal(0), z.literal(1), z.boolean().transform((b) => (b ? 1 : 0))]);

const labelItem = z.union([
  z.strictObject({ predictionId: z.uuid(), label }),
  z.strictObject({
    /** A label source (defineLabelSource): the event's key fields are its entities and request fields. */
    source: text().min(1).max(100),
    entities: entityRowSchema,
    /** When the event happened (ISO 8601 or epoch ms). */
    eventTime: z.union([text().min(1).max(64), z.number()]),
    label,
  }),
]);

export const feedbackRouter = router({
  /**
   * Labels by prediction id or by event; one outcome per item, in order. Sending a batch again
   * changes nothing; a different label for the same prediction or event is a conflict unless
   * `replace` is set.
   */
  record: mutation({
    scope: 'feedback:write',
    input: z.strictObject({ labels: z.array(labelItem).min(1), replace: z.boolean().default(false) }),
    async run({ deps }, input) {
      if (input.labels.length > deps.limits.maxRows)
        throw new TRPCError({
          code: 'BAD_REQUEST',
          message: `${input.labels.length} labels: at most ${deps.limits.maxRows} per request`,
        });
      const ids = input.labels.flatMap((l) => ('predictionId' in l ? [l.predictionId] : []));
      if (new Set(ids).size !== ids.length)
        throw new TRPCError({ code: 'BAD_REQUEST', message: 'a prediction is labelled twice in one batch' });
      // Predictions this server made a moment ago may still wait in its log buffer.
      if (ids.length > 0) await deps.predictionLog.flush();
      return recordFeedback(deps.db, input.labels, { replace: input.replace });
    },
  }),
});
