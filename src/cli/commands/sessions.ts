import type { components } from '../../http/api.d.ts';
import { call } from '../client.ts';
import type { Command, Context } from '../command.ts';
import { id, str } from '../command.ts';
import { EXIT } from '../errors.ts';
import { fields, print, printJson, table, when } from '../output.ts';
import { allGroups, resolveGroup } from './groups.ts';

type Session = components['schemas']['Session'];

const MAX_PAGES = 200;

async function allSessions(ctx: Context, groupId: string | undefined): Promise<Session[]> {
  const out: Session[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const query = { limit: 500, ...(cursor ? { cursor } : {}), ...(groupId ? { groupId } : {}) };
    const res = await call(ctx.config.url, ctx.api.GET('/v1/sessions', { params: { query } }));
    out.push(...res.items);
    if (!res.nextCursor) return out;
    cursor = res.nextCursor;
  }
  return out;
}

function lastExit(s: Session): string {
  if (!s.lastExit) return '-';
  return s.lastExit.code === null ? s.lastExit.reason : `${s.lastExit.reason} (${s.lastExit.code})`;
}

export function getSession(ctx: Context, ref: string): Promise<Session> {
  const sessionId = id(ref, 'session');
  return call(ctx.config.url, ctx.api.GET('/v1/sessions/{sessionId}', { params: { path: { sessionId } } }));
}

const ls: Command = {
  name: 'sessions ls',
  usage: '[--group GROUP]',
  summary: 'List sessions, optionally of one group (id or folder).',
  options: { group: { type: 'string' } },
  arity: [0, 0],
  async run(ctx) {
    const groupRef = str(ctx.values, 'group');
    const groupId = groupRef ? (await resolveGroup(ctx, groupRef)).id : undefined;
    const sessions = await allSessions(ctx, groupId);
    if (ctx.json) {
      printJson(sessions);
      return EXIT.ok;
    }
    if (!sessions.length) {
      print('no sessions');
      return EXIT.ok;
    }
    const folders = new Map((await allGroups(ctx)).map((g) => [g.id, g.folder]));
    print(
      table(
        ['ID', 'GROUP', 'KEY', 'STATUS', 'GEN', 'LAST EXIT', 'LAST ACTIVITY'],
        sessions.map((s) => [
          s.id,
          folders.get(s.groupId) ?? s.groupId,
          s.externalKey ?? '-',
          s.status,
          String(s.generation),
          lastExit(s),
          when(s.lastActivityAt),
        ]),
      ),
    );
    return EXIT.ok;
  },
};

const show: Command = {
  name: 'sessions show',
  usage: '<session>',
  summary: 'Show one session: status, generation, container, last exit and usage.',
  arity: [1, 1],
  async run(ctx) {
    const s = await getSession(ctx, ctx.args[0]!);
    if (ctx.json) {
      printJson(s);
      return EXIT.ok;
    }
    const m = s.modelUsage;
    print(
      fields([
        ['id', s.id],
        ['group', s.groupId],
        ['key', s.externalKey ?? '-'],
        ['status', s.status],
        ['generation', String(s.generation)],
        ['container', s.containerName ?? '-'],
        ['last exit', lastExit(s)],
        ['last activity', when(s.lastActivityAt)],
        [
          'model usage',
          `${m.requests} requests, ${m.inputTokens} in / ${m.outputTokens} out tokens, $${m.costUsd.toFixed(4)}`,
        ],
        ['agent turns', String(s.agentUsage.turns)],
        ['created', when(s.createdAt)],
      ]),
    );
    return EXIT.ok;
  },
};

const create: Command = {
  name: 'sessions create',
  usage: '<group> [--key EXTERNAL_KEY]',
  summary: 'Create a session in a group (id or folder); with --key, get or create the session for that key.',
  options: { key: { type: 'string' } },
  arity: [1, 1],
  async run(ctx) {
    const group = await resolveGroup(ctx, ctx.args[0]!);
    const externalKey = str(ctx.values, 'key');
    const session = externalKey
      ? await call(
          ctx.config.url,
          ctx.api.PUT('/v1/groups/{groupId}/sessions/by-key/{externalKey}', {
            params: { path: { groupId: group.id, externalKey } },
          }),
        )
      : await call(ctx.config.url, ctx.api.POST('/v1/sessions', { body: { groupId: group.id } }));
    if (ctx.json) printJson(session);
    else print(session.id);
    return EXIT.ok;
  },
};

const rm: Command = {
  name: 'sessions rm',
  usage: '<session>',
  summary: "Stop the session's container and delete the session.",
  arity: [1, 1],
  async run(ctx) {
    const sessionId = id(ctx.args[0]!, 'session');
    await call(
      ctx.config.url,
      ctx.api.DELETE('/v1/sessions/{sessionId}', { params: { path: { sessionId } } }),
    );
    if (ctx.json) printJson({ id: sessionId, deleted: true });
    else print(`deleted session ${sessionId}`);
    return EXIT.ok;
  },
};

export const sessionCommands: Command[] = [ls, show, create, rm, { ...ls, name: 'sessions' }];
