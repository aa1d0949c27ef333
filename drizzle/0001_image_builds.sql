CREATE TABLE "image_builds" (
	"id" text PRIMARY KEY NOT NULL,
	"group_id" text NOT NULL,
	"status" text DEFAULT 'queued' NOT NULL,
	"tag" text NOT NULL,
	"packages" jsonb NOT NULL,
	"reused" boolean DEFAULT false NOT NULL,
	"owner_instance" text NOT NULL,
	"error" text,
	"output_tail" text DEFAULT '' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
ALTER TABLE "image_builds" ADD CONSTRAINT "image_builds_group_id_groups_id_fk" FOREIGN KEY ("group_id") REFERENCES "public"."groups"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "image_builds_one_active" ON "image_builds" USING btree ("group_id") WHERE "image_builds"."status" in ('queued', 'running');--> statement-breakpoint
CREATE INDEX "image_builds_group_created" ON "image_builds" USING btree ("group_id","created_at");