import type { ContainerRuntime } from '../runtime/index.ts';

/** A readiness check's answer (the same shape as the sessions' checks). */
interface Check {
  ok: boolean;
  detail?: string;
}

interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface AgentImageDeps {
  runtime: ContainerRuntime;
  /** BERTH_IMAGE: the tag wakes use unless a group names its own. */
  tag: string;
  log: Logger;
}

/**
 * Builds the base agent image in the background when it is missing at start, so a new user's
 * `npm start` needs nothing else. While it builds, readiness says so and wakes are told to retry.
 */
export class AgentImageBuild {
  readonly #deps: AgentImageDeps;
  #pending: Promise<void> | undefined;
  #last = '';
  #failure: string | undefined;

  constructor(deps: AgentImageDeps) {
    this.#deps = deps;
  }

  /** Starts the build when the image is missing; resolves once that is known (not when the build ends). */
  async startIfMissing(): Promise<void> {
    const { runtime, tag, log } = this.#deps;
    if (await runtime.imageId(tag)) return;
    log.info({ image: tag, runtime: runtime.name }, 'agent image missing: building it (npm run image)');
    // Loaded only here: the builder pulls in esbuild and the Debian bootstrap.
    const { buildAgentImage } = await import('../../container/image/build.ts');
    const started = Date.now();
    this.#pending = buildAgentImage({
      runtime,
      tag,
      log: (line) => {
        this.#last = line;
        log.info({ image: tag }, `image build: ${line}`);
      },
    }).then(
      () => {
        log.info({ image: tag, ms: Date.now() - started }, 'agent image built');
        this.#pending = undefined;
      },
      (err: Error) => {
        this.#failure = err.message;
        this.#pending = undefined;
        log.warn({ err, image: tag }, 'agent image build failed; run `npm run image` to see why');
      },
    );
  }

  building(image: string): boolean {
    return this.#pending !== undefined && image === this.#deps.tag;
  }

  /** Resolves when no build is running (whatever its outcome). */
  done(): Promise<void> {
    return this.#pending ?? Promise.resolve();
  }

  /** Readiness while building or after a failed build; undefined when neither applies. */
  check(image: string): Check | undefined {
    if (this.building(image)) return { ok: false, detail: `building ${image}: ${this.#last || 'starting'}` };
    if (this.#failure && image === this.#deps.tag)
      return { ok: false, detail: `building ${image} failed: ${this.#failure}` };
    return undefined;
  }
}
