CREATE TABLE "kaizen"."retention_purges" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"target" text NOT NULL,
	"cutoff" timestamp with time zone NOT NULL,
	"rows" bigint NOT NULL,
	"purged_by" text NOT NULL,
	"purged_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "retention_purges_target_idx" ON "kaizen"."retention_purges" USING btree ("target","purged_at");