CREATE TABLE "kaizen"."api_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"prefix" text NOT NULL,
	"key_hash" text NOT NULL,
	"scopes" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone,
	CONSTRAINT "api_keys_key_hash_unique" UNIQUE("key_hash")
);
--> statement-breakpoint
CREATE TABLE "kaizen"."on_demand_view_versions" (
	"view_name" text NOT NULL,
	"version" integer NOT NULL,
	"fingerprint" text NOT NULL,
	"definition" jsonb NOT NULL,
	"module" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "on_demand_view_versions_view_name_version_pk" PRIMARY KEY("view_name","version")
);
--> statement-breakpoint
CREATE TABLE "kaizen"."prediction_feedback" (
	"prediction_id" text PRIMARY KEY NOT NULL,
	"label" double precision NOT NULL,
	"recorded_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "kaizen"."predictions" (
	"id" text PRIMARY KEY NOT NULL,
	"model_name" text NOT NULL,
	"version" integer NOT NULL,
	"score" double precision NOT NULL,
	"features" jsonb NOT NULL,
	"shadow_version" integer,
	"shadow_score" double precision,
	"api_key_id" text,
	"predicted_at" timestamp with time zone NOT NULL
);
--> statement-breakpoint
ALTER TABLE "kaizen"."models" ADD COLUMN "shadow_challenger" boolean DEFAULT false NOT NULL;--> statement-breakpoint
CREATE INDEX "predictions_model_idx" ON "kaizen"."predictions" USING btree ("model_name","predicted_at");