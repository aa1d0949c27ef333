import { type ChildProcess, fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { OpenGroup, ViewerReport } from './stream-viewers.ts';

export type GroupResult = Extract<ViewerReport, { type: 'done' }>;

export interface ViewerProcess {
  pid: number;
  /** Opens a group of viewers; resolves once all are connected, with a promise for their completion. */
  open(group: Omit<OpenGroup, 'cmd'>): Promise<{ done: Promise<GroupResult> }>;
  close(group: string): void;
  stop(): Promise<void>;
}

/** Starts the viewers' process (test/bench/stream-viewers.ts under tsx). */
export function viewerProcess(): ViewerProcess {
  const script = fileURLToPath(new URL('./stream-viewers.ts', import.meta.url));
  const child: ChildProcess = fork(script, [], { execArgv: ['--import', 'tsx'], stdio: 'inherit' });
  const waiting = new Map<string, { opened(): void; done(r: GroupResult): void; fail(e: Error): void }>();
  child.on('message', (r: ViewerReport) => {
    const w = waiting.get(r.group);
    if (!w) return;
    if (r.type === 'opened') w.opened();
    else if (r.type === 'done') w.done(r);
    else w.fail(new Error(`viewers ${r.group}: ${r.error}`));
  });
  child.once('exit', (code) => {
    for (const w of waiting.values()) w.fail(new Error(`viewer process exited with ${code}`));
  });
  return {
    pid: child.pid!,
    open(group) {
      return new Promise((resolveOpen, rejectOpen) => {
        const done = new Promise<GroupResult>((resolveDone, rejectDone) => {
          waiting.set(group.group, {
            opened: () => resolveOpen({ done }),
            done: resolveDone,
            fail: (e) => {
              rejectOpen(e);
              rejectDone(e);
            },
          });
        });
        // Rejections surface through `open` or the caller's await of `done`.
        done.catch(() => {});
        child.send({ cmd: 'open', ...group } satisfies OpenGroup);
      });
    },
    close(group) {
      waiting.delete(group);
      child.send({ cmd: 'close', group });
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.disconnect();
      await exited;
    },
  };
}
