CREATE TABLE "kaizen"."training_sets" (
	"id" text PRIMARY KEY NOT NULL,
	"path" text NOT NULL,
	"spine_sha256" text NOT NULL,
	"row_count" bigint NOT NULL,
	"content_hash" text NOT NULL,
	"manifest" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
