ALTER TABLE "kaizen"."prediction_feedback" ADD COLUMN "model_name" text;--> statement-breakpoint
ALTER TABLE "kaizen"."prediction_feedback" ADD COLUMN "event_ts" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "prediction_feedback_window_idx" ON "kaizen"."prediction_feedback" USING btree ("model_name","event_ts");--> statement-breakpoint
CREATE INDEX "prediction_feedback_unplaced_idx" ON "kaizen"."prediction_feedback" USING btree ("prediction_id") WHERE "kaizen"."prediction_feedback"."model_name" IS NULL;