DROP INDEX "kaizen"."quarantine_row_idx";--> statement-breakpoint
ALTER TABLE "kaizen"."materialization_chunks" ADD COLUMN "written_by" text;--> statement-breakpoint
CREATE UNIQUE INDEX "quarantine_chunk_row_idx" ON "kaizen"."quarantine" USING btree ("view_name","version","chunk_id","position");