import process from 'node:process';

/** C0 and C1 control characters but tab and newline: escape sequences a terminal would act on. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/g;

/**
 * Text fit for a terminal: agent output, names and server messages are untrusted, and an escape
 * sequence in them could retitle the window, rewrite earlier lines or set the clipboard. Each control
 * character becomes a visible `\uXXXX`, which also keeps a JSON string valid and equal.
 */
export function visible(text: string): string {
  // CRLF line ends stay line ends; only a bare carriage return could overwrite what is shown.
  return text
    .replaceAll('\r\n', '\n')
    .replace(CONTROL, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** Writes a line to stdout. Output goes through here so a command's text is easy to follow. */
export function print(line = ''): void {
  process.stdout.write(`${visible(line)}\n`);
}

/** Diagnostics and progress go to stderr so stdout stays parseable. */
export function note(line: string): void {
  process.stderr.write(`${visible(line)}\n`);
}

export function printJson(value: unknown): void {
  print(JSON.stringify(value, null, 2));
}

/** Columns padded to the widest cell; the last column is not padded. */
export function table(headers: string[], rows: string[][]): string {
  const all = [headers, ...rows];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return all
    .map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '))
    .join('\n');
}

/** `label  value` pairs aligned on the label. */
export function fields(pairs: [string, string][]): string {
  const width = Math.max(...pairs.map(([k]) => k.length));
  return pairs.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n');
}

/** A timestamp in UTC to the second; `-` when absent. */
export function when(iso: string | null | undefined): string {
  return iso ? `${iso.slice(0, 19).replace('T', ' ')}Z` : '-';
}
