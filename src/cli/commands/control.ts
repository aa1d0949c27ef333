import { call } from '../client.ts';
import type { Command } from '../command.ts';
import { id } from '../command.ts';
import { EXIT } from '../errors.ts';
import { print, printJson } from '../output.ts';

const wake: Command = {
  name: 'wake',
  usage: '<session>',
  summary: "Start the session's container unless it runs.",
  arity: [1, 1],
  async run(ctx) {
    const sessionId = id(ctx.args[0]!, 'session');
    const res = await call(
      ctx.config.url,
      ctx.api.POST('/v1/sessions/{sessionId}/wake', { params: { path: { sessionId } } }),
    );
    if (ctx.json) printJson(res);
    else print(`${sessionId}: ${res.status} (generation ${res.generation})`);
    return EXIT.ok;
  },
};

const stop: Command = {
  name: 'stop',
  usage: '<session>',
  summary: "Stop the session's container; undelivered messages wait for the next wake.",
  arity: [1, 1],
  async run(ctx) {
    const sessionId = id(ctx.args[0]!, 'session');
    const res = await call(
      ctx.config.url,
      ctx.api.POST('/v1/sessions/{sessionId}/stop', { params: { path: { sessionId } } }),
    );
    if (ctx.json) printJson(res);
    else print(`${sessionId}: ${res.status}${res.lastExit ? ` (last exit: ${res.lastExit.reason})` : ''}`);
    return EXIT.ok;
  },
};

const interrupt: Command = {
  name: 'interrupt',
  usage: '<session>',
  summary: "End the agent's current turn; the container stays and queued messages continue.",
  arity: [1, 1],
  async run(ctx) {
    const sessionId = id(ctx.args[0]!, 'session');
    const res = await call(
      ctx.config.url,
      ctx.api.POST('/v1/sessions/{sessionId}/interrupt', { params: { path: { sessionId } } }),
    );
    if (ctx.json) printJson(res);
    else print(`${sessionId}: ${res.interrupted ? 'interrupted' : 'no turn was running'}`);
    return EXIT.ok;
  },
};

export const controlCommands: Command[] = [wake, stop, interrupt];
