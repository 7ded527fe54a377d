CREATE TABLE "kaizen"."definitions" (
	"kind" text NOT NULL,
	"name" text NOT NULL,
	"version" integer NOT NULL,
	"fingerprint" text NOT NULL,
	"definition" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "definitions_kind_name_version_pk" PRIMARY KEY("kind","name","version")
);
--> statement-breakpoint
CREATE TABLE "kaizen"."label_chunks" (
	"chunk_id" text PRIMARY KEY NOT NULL,
	"source_name" text NOT NULL,
	"source_version" integer NOT NULL,
	"range_start" timestamp with time zone NOT NULL,
	"range_end" timestamp with time zone NOT NULL,
	"rows" bigint NOT NULL,
	"rows_quarantined" bigint NOT NULL,
	"source_fingerprint" text NOT NULL,
	"committed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "kaizen"."labels" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"source_name" text NOT NULL,
	"source_version" integer NOT NULL,
	"origin" text NOT NULL,
	"chunk_id" text,
	"position" bigint,
	"key" text NOT NULL,
	"event_ts" timestamp with time zone NOT NULL,
	"known_at" timestamp with time zone NOT NULL,
	"label" double precision NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "kaizen"."monitor_alerts" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"model_name" text NOT NULL,
	"version" integer NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"window_end" timestamp with time zone NOT NULL,
	"kind" text NOT NULL,
	"subject" text NOT NULL,
	"drift_type" text,
	"message" text NOT NULL,
	"figures" jsonb NOT NULL,
	"policy_version" integer,
	"raised_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"consumed_by" text,
	"consumed_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "kaizen"."monitor_results" (
	"model_name" text NOT NULL,
	"version" integer NOT NULL,
	"window_start" timestamp with time zone NOT NULL,
	"window_end" timestamp with time zone NOT NULL,
	"metric" text NOT NULL,
	"subject" text NOT NULL,
	"value" double precision,
	"details" jsonb,
	"as_of" timestamp with time zone NOT NULL,
	"computed_by" text NOT NULL,
	"computed_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "monitor_results_model_name_version_window_start_window_end_metric_subject_pk" PRIMARY KEY("model_name","version","window_start","window_end","metric","subject")
);
--> statement-breakpoint
ALTER TABLE "kaizen"."predictions" ALTER COLUMN "features" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "kaizen"."prediction_feedback" ADD COLUMN "source" text DEFAULT 'feedback' NOT NULL;--> statement-breakpoint
ALTER TABLE "kaizen"."prediction_feedback" ADD COLUMN "known_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
CREATE UNIQUE INDEX "labels_chunk_row_idx" ON "kaizen"."labels" USING btree ("source_name","source_version","chunk_id","position");--> statement-breakpoint
CREATE UNIQUE INDEX "labels_feedback_idx" ON "kaizen"."labels" USING btree ("source_name","key","event_ts") WHERE origin = 'feedback';--> statement-breakpoint
CREATE INDEX "labels_event_idx" ON "kaizen"."labels" USING btree ("source_name","event_ts");--> statement-breakpoint
CREATE UNIQUE INDEX "monitor_alerts_window_idx" ON "kaizen"."monitor_alerts" USING btree ("model_name","window_start","window_end","kind","subject");--> statement-breakpoint
CREATE INDEX "monitor_alerts_model_idx" ON "kaizen"."monitor_alerts" USING btree ("model_name","id");--> statement-breakpoint
CREATE INDEX "monitor_results_window_idx" ON "kaizen"."monitor_results" USING btree ("model_name","window_end");