import type { components } from '../../http/api.d.ts';
import type { Api } from '../client.ts';
import { call } from '../client.ts';
import type { Command, Context } from '../command.ts';
import { str } from '../command.ts';
import { CliError, EXIT, UsageError } from '../errors.ts';
import { print, printJson, table, when } from '../output.ts';

type Group = components['schemas']['Group'];

const MAX_PAGES = 200;

export async function allGroups(ctx: Context): Promise<Group[]> {
  const out: Group[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const res = await call(
      ctx.config.url,
      ctx.api.GET('/v1/groups', { params: { query: { limit: 500, ...(cursor ? { cursor } : {}) } } }),
    );
    out.push(...res.items);
    if (!res.nextCursor) return out;
    cursor = res.nextCursor;
  }
  return out;
}

/** A group named by id (`grp_…`) or by folder. */
export async function resolveGroup(ctx: Context, ref: string): Promise<Group> {
  if (/^[a-z]{2,4}_[0-9a-z]{21}$/.test(ref))
    return call(ctx.config.url, ctx.api.GET('/v1/groups/{groupId}', { params: { path: { groupId: ref } } }));
  const found = (await allGroups(ctx)).find((g) => g.folder === ref);
  if (!found) throw new CliError(EXIT.notFound, `GROUP_NOT_FOUND: no group with id or folder "${ref}"`);
  return found;
}

function groupRows(groups: Group[]): string {
  return table(
    ['ID', 'FOLDER', 'NAME', 'TRUST', 'CREATED'],
    groups.map((g) => [g.id, g.folder, g.name, g.trust, when(g.createdAt)]),
  );
}

const ls: Command = {
  name: 'groups ls',
  usage: '',
  summary: 'List groups.',
  arity: [0, 0],
  async run(ctx) {
    const groups = await allGroups(ctx);
    if (ctx.json) printJson(groups);
    else print(groups.length ? groupRows(groups) : 'no groups');
    return EXIT.ok;
  },
};

const create: Command = {
  name: 'groups create',
  usage: '<folder> [--name NAME] [--trust member|admin]',
  summary: 'Create a group (the folder is its directory name: a-z, 0-9, _ and -).',
  options: { name: { type: 'string' }, trust: { type: 'string' } },
  arity: [1, 1],
  async run(ctx) {
    const folder = ctx.args[0]!;
    const trust = str(ctx.values, 'trust') ?? 'member';
    if (trust !== 'member' && trust !== 'admin')
      throw new UsageError(`--trust must be member or admin, got "${trust}"`);
    const group = await call(
      ctx.config.url,
      ctx.api.POST('/v1/groups', { body: { folder, name: str(ctx.values, 'name') ?? folder, trust } }),
    );
    if (ctx.json) printJson(group);
    else print(`created group ${group.id} (${group.folder})`);
    return EXIT.ok;
  },
};

const rm: Command = {
  name: 'groups rm',
  usage: '<group>',
  summary:
    'Delete a group and its sessions (their containers are stopped first). <group> is an id or a folder.',
  arity: [1, 1],
  async run(ctx) {
    const group = await resolveGroup(ctx, ctx.args[0]!);
    await deleteGroup(ctx.api, ctx.config.url, group.id);
    if (ctx.json) printJson({ id: group.id, deleted: true });
    else print(`deleted group ${group.id} (${group.folder})`);
    return EXIT.ok;
  },
};

function deleteGroup(api: Api, url: string, groupId: string) {
  return call(url, api.DELETE('/v1/groups/{groupId}', { params: { path: { groupId } } }));
}

export const groupCommands: Command[] = [ls, create, rm, { ...ls, name: 'groups' }];
