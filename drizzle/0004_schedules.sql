CREATE TABLE "schedules" (
	"id" text PRIMARY KEY NOT NULL,
	"session_id" text NOT NULL,
	"group_id" text NOT NULL,
	"text" text NOT NULL,
	"cron" text,
	"every_ms" bigint,
	"at" timestamp with time zone,
	"timezone" text NOT NULL,
	"status" text DEFAULT 'active' NOT NULL,
	"paused_reason" text,
	"next_run_at" timestamp with time zone,
	"last_run_at" timestamp with time zone,
	"last_message_id" text,
	"run_count" integer DEFAULT 0 NOT NULL,
	"failures_since" timestamp with time zone DEFAULT now() NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "schedules" ADD CONSTRAINT "schedules_session_id_sessions_id_fk" FOREIGN KEY ("session_id") REFERENCES "public"."sessions"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "schedules_due" ON "schedules" USING btree ("next_run_at") WHERE "schedules"."status" = 'active';--> statement-breakpoint
CREATE INDEX "schedules_session" ON "schedules" USING btree ("session_id","id");--> statement-breakpoint
CREATE INDEX "schedules_group" ON "schedules" USING btree ("group_id","id");