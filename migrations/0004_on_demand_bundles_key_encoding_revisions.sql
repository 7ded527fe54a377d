CREATE TABLE "kaizen"."code_bundles" (
	"sha256" text PRIMARY KEY NOT NULL,
	"code" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "kaizen"."feature_view_versions" ADD COLUMN "key_encoding" text DEFAULT 'joined' NOT NULL;--> statement-breakpoint
ALTER TABLE "kaizen"."materialization_chunks" ADD COLUMN "revision" integer DEFAULT 1 NOT NULL;--> statement-breakpoint
ALTER TABLE "kaizen"."materialization_chunks" ADD COLUMN "source_fingerprint" text;--> statement-breakpoint
ALTER TABLE "kaizen"."on_demand_view_versions" ADD COLUMN "bundle_sha256" text;--> statement-breakpoint
ALTER TABLE "kaizen"."on_demand_view_versions" ADD CONSTRAINT "on_demand_view_versions_bundle_sha256_code_bundles_sha256_fk" FOREIGN KEY ("bundle_sha256") REFERENCES "kaizen"."code_bundles"("sha256") ON DELETE no action ON UPDATE no action;