CREATE TABLE "kaizen"."erasures" (
	"id" text PRIMARY KEY NOT NULL,
	"entity" text NOT NULL,
	"key_hashes" text[] NOT NULL,
	"requested_by" text NOT NULL,
	"reason" text NOT NULL,
	"requested_at" timestamp with time zone DEFAULT now() NOT NULL,
	"completed_at" timestamp with time zone,
	"outcome" jsonb
);
--> statement-breakpoint
CREATE INDEX "erasures_entity_idx" ON "kaizen"."erasures" USING btree ("entity");