CREATE TABLE "kaizen"."retrainings" (
	"workflow_id" text PRIMARY KEY NOT NULL,
	"model_name" text NOT NULL,
	"trigger" text NOT NULL,
	"as_of" timestamp with time zone NOT NULL,
	"alert_ids" jsonb,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone,
	"outcome" text,
	"version" integer,
	"details" jsonb
);
--> statement-breakpoint
ALTER TABLE "kaizen"."model_versions" ADD COLUMN "lineage" jsonb;--> statement-breakpoint
CREATE INDEX "retrainings_model_idx" ON "kaizen"."retrainings" USING btree ("model_name","started_at");