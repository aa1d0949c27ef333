import process from 'node:process';
import { parseArgs } from 'node:util';
import { apiClient } from './client.ts';
import type { Command, Options, Values } from './command.ts';
import { controlCommands } from './commands/control.ts';
import { doctorCommands } from './commands/doctor.ts';
import { groupCommands } from './commands/groups.ts';
import { logCommands } from './commands/logs.ts';
import { sendCommands } from './commands/send.ts';
import { sessionCommands } from './commands/sessions.ts';
import { isLoopback, loadCliConfig } from './config.ts';
import { CliError, EXIT, UsageError } from './errors.ts';
import { commandHelp, mainHelp } from './help.ts';
import { note, print } from './output.ts';

const COMMANDS: Command[] = [
  ...groupCommands,
  ...sessionCommands,
  ...sendCommands,
  ...logCommands,
  ...controlCommands,
  ...doctorCommands,
];
const byName = new Map(COMMANDS.map((c) => [c.name, c]));
/** In the overview: the aliases (`groups` for `groups ls`) are left out. */
const LISTED = COMMANDS.filter((c) => c.name !== 'groups' && c.name !== 'sessions');

const GLOBAL: Options = {
  url: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
};

/** The command named by the first one or two words. */
function pick(positionals: string[]): Command | undefined {
  const [first, second] = positionals;
  if (first === undefined) return undefined;
  const two = second !== undefined ? byName.get(`${first} ${second}`) : undefined;
  if (two) return two;
  const one = byName.get(first);
  // `groups foo` is an unknown subcommand, not `groups ls foo`.
  return one && (one.arity[1] > 0 || second === undefined) ? one : undefined;
}

async function run(argv: string[]): Promise<number> {
  // First pass: only to find the command, whose options decide the strict second pass.
  const loose = parseArgs({ args: argv, options: GLOBAL, allowPositionals: true, strict: false });
  const positionals = loose.positionals;
  if (positionals[0] === 'help') {
    const target = pick(positionals.slice(1));
    print(target ? commandHelp(target) : mainHelp(LISTED));
    return EXIT.ok;
  }
  const command = pick(positionals);
  if (!command) {
    if (loose.values.help && positionals.length === 0) {
      print(mainHelp(LISTED));
      return EXIT.ok;
    }
    if (positionals.length)
      throw new UsageError(`unknown command "${positionals.slice(0, 2).join(' ')}" (see: berth --help)`);
    note(mainHelp(LISTED));
    throw new UsageError('no command given');
  }
  let values: Values;
  let rest: string[];
  try {
    const parsed = parseArgs({
      args: argv,
      options: { ...GLOBAL, ...command.options },
      allowPositionals: true,
      strict: true,
    });
    values = parsed.values;
    rest = parsed.positionals.slice(command.name.split(' ').length);
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n(see: berth ${command.name} --help)`);
  }
  if (values.help) {
    print(commandHelp(command));
    return EXIT.ok;
  }
  const [min, max] = command.arity;
  if (rest.length < min || rest.length > max)
    throw new UsageError(
      `usage: berth ${command.name} ${command.usage}\n(see: berth ${command.name} --help)`,
    );
  const config = loadCliConfig({
    ...(typeof values.url === 'string' ? { url: values.url } : {}),
    ...(typeof values.token === 'string' ? { token: values.token } : {}),
  });
  if (config.token && config.url.startsWith('http:') && !isLoopback(config.url))
    note(`warning: the API key goes to ${new URL(config.url).host} unencrypted over http; use https`);
  return command.run({ config, api: apiClient(config), json: values.json === true, values, args: rest });
}

/** Runs the CLI and exits with its code once stdout has drained (a pipe may still be writing). */
export async function main(argv: string[]): Promise<void> {
  let code: number;
  try {
    code = await run(argv);
  } catch (err) {
    if (err instanceof CliError) {
      note(`berth: ${err.message}`);
      code = err.exitCode;
    } else {
      note(`berth: unexpected failure: ${(err as Error).stack ?? String(err)}`);
      code = EXIT.server;
    }
  }
  process.stdout.write('', () => process.exit(code));
}
