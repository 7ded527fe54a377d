CREATE SCHEMA "kaizen";
--> statement-breakpoint
CREATE SCHEMA "kaizen_offline";
--> statement-breakpoint
CREATE SCHEMA "kaizen_online";
--> statement-breakpoint
CREATE TABLE "kaizen"."entities" (
	"name" text PRIMARY KEY NOT NULL,
	"join_key" text NOT NULL,
	"description" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "kaizen"."feature_view_versions" (
	"view_name" text NOT NULL,
	"version" integer NOT NULL,
	"fingerprint" text NOT NULL,
	"definition" jsonb NOT NULL,
	"features" jsonb NOT NULL,
	"offline_table" text NOT NULL,
	"online_table" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "feature_view_versions_view_name_version_pk" PRIMARY KEY("view_name","version")
);
--> statement-breakpoint
CREATE TABLE "kaizen"."feature_views" (
	"name" text PRIMARY KEY NOT NULL,
	"latest_version" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "kaizen"."materialization_chunks" (
	"chunk_id" text PRIMARY KEY NOT NULL,
	"view_name" text NOT NULL,
	"version" integer NOT NULL,
	"range_start" timestamp with time zone NOT NULL,
	"range_end" timestamp with time zone NOT NULL,
	"rows_written" bigint NOT NULL,
	"online_rows" bigint NOT NULL,
	"rows_quarantined" bigint NOT NULL,
	"committed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "kaizen"."quarantine" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"view_name" text NOT NULL,
	"version" integer NOT NULL,
	"chunk_id" text NOT NULL,
	"source" text NOT NULL,
	"position" bigint NOT NULL,
	"reason" text NOT NULL,
	"row" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "kaizen"."feature_view_versions" ADD CONSTRAINT "feature_view_versions_view_name_feature_views_name_fk" FOREIGN KEY ("view_name") REFERENCES "kaizen"."feature_views"("name") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "materialization_chunks_view_idx" ON "kaizen"."materialization_chunks" USING btree ("view_name","version","range_end");--> statement-breakpoint
CREATE UNIQUE INDEX "quarantine_row_idx" ON "kaizen"."quarantine" USING btree ("view_name","version","source","position");