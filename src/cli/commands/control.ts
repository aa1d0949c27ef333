import { call } from '../client.ts';
import type { Command, Context } from '../command.ts';
import { id } from '../command.ts';
import { EXIT } from '../errors.ts';
import { print, printJson } from '../output.ts';

/** A command that posts one action to a session and prints what the server answered. */
function sessionAction<T>(
  name: string,
  summary: string,
  post: (ctx: Context, sessionId: string) => Promise<T>,
  describe: (res: T) => string,
): Command {
  return {
    name,
    usage: '<session>',
    summary,
    arity: [1, 1],
    async run(ctx) {
      const sessionId = id(ctx.args[0]!, 'session');
      const res = await post(ctx, sessionId);
      if (ctx.json) printJson(res);
      else print(`${sessionId}: ${describe(res)}`);
      return EXIT.ok;
    },
  };
}

const path = (sessionId: string) => ({ params: { path: { sessionId } } });

export const controlCommands: Command[] = [
  sessionAction(
    'wake',
    "Start the session's container unless it runs.",
    (ctx, s) => call(ctx.config.url, ctx.api.POST('/v1/sessions/{sessionId}/wake', path(s))),
    (res) => `${res.status} (generation ${res.generation})`,
  ),
  sessionAction(
    'stop',
    "Stop the session's container; undelivered messages wait for the next wake.",
    (ctx, s) => call(ctx.config.url, ctx.api.POST('/v1/sessions/{sessionId}/stop', path(s))),
    (res) => `${res.status}${res.lastExit ? ` (last exit: ${res.lastExit.reason})` : ''}`,
  ),
  sessionAction(
    'interrupt',
    "End the agent's current turn; the container stays and queued messages continue.",
    (ctx, s) => call(ctx.config.url, ctx.api.POST('/v1/sessions/{sessionId}/interrupt', path(s))),
    (res) => (res.interrupted ? 'interrupted' : 'no turn was running'),
  ),
];
