import type { Config } from '../config.ts';
import type { EventLog } from '../events/event-log.ts';
import type { FileStore } from '../files/store.ts';
import type { ImageBuilder } from '../images/builder.ts';
import type { Scheduler } from '../schedules/scheduler.ts';
import type { SessionControl } from '../sessions/control.ts';
import type { Store } from '../store/db.ts';

/** What route plugins are given; they import nothing stateful themselves. */
export interface AppContext {
  config: Config;
  store: Store;
  events: EventLog;
  runner: SessionControl;
  images: ImageBuilder;
  schedules: Scheduler;
  /** Delivered files; only the files plugin needs it. */
  files?: FileStore;
}
