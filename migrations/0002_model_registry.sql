CREATE TABLE "kaizen"."model_alias_audit" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"model_name" text NOT NULL,
	"alias" text NOT NULL,
	"from_version" integer,
	"to_version" integer,
	"actor" text NOT NULL,
	"reason" text NOT NULL,
	"details" jsonb,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "kaizen"."model_aliases" (
	"model_name" text NOT NULL,
	"alias" text NOT NULL,
	"version" integer NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "model_aliases_model_name_alias_pk" PRIMARY KEY("model_name","alias")
);
--> statement-breakpoint
CREATE TABLE "kaizen"."model_versions" (
	"model_name" text NOT NULL,
	"version" integer NOT NULL,
	"artifact_path" text NOT NULL,
	"artifact_sha256" text NOT NULL,
	"trainer" text NOT NULL,
	"params" jsonb NOT NULL,
	"training_set_id" text NOT NULL,
	"features" jsonb NOT NULL,
	"metrics" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "model_versions_model_name_version_pk" PRIMARY KEY("model_name","version")
);
--> statement-breakpoint
CREATE TABLE "kaizen"."models" (
	"name" text PRIMARY KEY NOT NULL,
	"latest_version" integer NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "kaizen"."model_aliases" ADD CONSTRAINT "model_aliases_model_name_models_name_fk" FOREIGN KEY ("model_name") REFERENCES "kaizen"."models"("name") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "kaizen"."model_aliases" ADD CONSTRAINT "model_aliases_version_fk" FOREIGN KEY ("model_name","version") REFERENCES "kaizen"."model_versions"("model_name","version") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "kaizen"."model_versions" ADD CONSTRAINT "model_versions_model_name_models_name_fk" FOREIGN KEY ("model_name") REFERENCES "kaizen"."models"("name") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "kaizen"."model_versions" ADD CONSTRAINT "model_versions_training_set_id_training_sets_id_fk" FOREIGN KEY ("training_set_id") REFERENCES "kaizen"."training_sets"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "model_alias_audit_model_idx" ON "kaizen"."model_alias_audit" USING btree ("model_name","id");