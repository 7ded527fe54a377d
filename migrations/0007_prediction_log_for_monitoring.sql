ALTER TABLE "kaizen"."predictions" ADD COLUMN "source" text DEFAULT 'online' NOT NULL;--> statement-breakpoint
ALTER TABLE "kaizen"."predictions" ADD COLUMN "entities" jsonb;--> statement-breakpoint
ALTER TABLE "kaizen"."predictions" ADD COLUMN "event_ts" timestamp with time zone;--> statement-breakpoint
ALTER TABLE "kaizen"."predictions" ADD COLUMN "decision" boolean;--> statement-breakpoint
ALTER TABLE "kaizen"."predictions" ADD COLUMN "inputs" double precision[];--> statement-breakpoint
ALTER TABLE "kaizen"."predictions" ADD COLUMN "latency_ms" double precision;--> statement-breakpoint
CREATE INDEX "predictions_model_event_idx" ON "kaizen"."predictions" USING btree ("model_name","event_ts");