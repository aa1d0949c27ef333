import type { Config } from '../config.ts';
import type { EventLog } from '../events/event-log.ts';
import type { FileStore } from '../files/store.ts';
import type { Logger } from '../logger.ts';
import type { Metrics } from '../metrics.ts';
import type { ContainerRuntime } from '../runtime/index.ts';
import type { Store } from '../store/db.ts';
import type { Check } from './control.ts';
import type { Launcher } from './launcher.ts';

/** What the supervisor is built from (wired in src/server.ts). */
export interface RunnerDeps {
  config: Config;
  store: Store;
  events: EventLog;
  instanceId: string;
  installId: string;
  /** Undefined when no runtime was found; `runtimeProblem` says what to install. */
  runtime: ContainerRuntime | undefined;
  runtimeProblem?: string;
  launcher: Launcher;
  /** Where each turn's outbox files go; without it replies carry no files. */
  files?: FileStore;
  /** While berth builds the base image at first start: resolves when that build has ended. */
  imageBuilt?: () => Promise<void>;
  log: Logger;
  metrics: Metrics;
  /** Whether agents can reach the model now (a credential is configured, or the agent needs none). */
  modelCredential?: () => Check;
}
