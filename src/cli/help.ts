import type { Command } from './command.ts';

export const GLOBAL_OPTIONS = [
  '--url URL      the berth server (env BERTH_URL; default http://127.0.0.1:3000)',
  '--token TOKEN  API key; prefer env BERTH_TOKEN, since a flag shows in the process list (for a server on this machine, default ./data/api-token)',
  '--json         machine-readable output (JSON; `logs` prints one event per line)',
  '-h, --help     help for berth or for a command',
];

export const EXIT_CODES = [
  '0  success',
  '1  the server answered with an error, a message failed, or doctor found something missing',
  '2  usage error (unknown command or option, bad argument)',
  '3  not found (session, group or message)',
  '4  authentication or permission refused (bad, expired or missing token; role too low)',
  '5  the server could not be reached',
];

export function mainHelp(commands: Command[]): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'berth — talk to a berth server from the shell',
    '',
    'Usage: berth <command> [arguments] [options]',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options:',
    ...GLOBAL_OPTIONS.map((l) => `  ${l}`),
    '',
    'Exit codes:',
    ...EXIT_CODES.map((l) => `  ${l}`),
    '',
    "Run 'berth <command> --help' for a command's arguments.",
  ].join('\n');
}

export function commandHelp(command: Command): string {
  return [
    `Usage: berth ${command.name}${command.usage ? ` ${command.usage}` : ''} [--url URL] [--token TOKEN] [--json]`,
    '',
    command.summary,
    ...(command.details?.length ? ['', ...command.details.map((l) => `  ${l}`)] : []),
    '',
    'Options:',
    ...GLOBAL_OPTIONS.map((l) => `  ${l}`),
    '',
    'Exit codes:',
    ...EXIT_CODES.map((l) => `  ${l}`),
  ].join('\n');
}
