/** How much build output is kept per build. */
const OUTPUT_TAIL_BYTES = 64 * 1024;

export interface BuildEnd {
  status: 'succeeded' | 'failed' | 'cancelled';
  error: string | null;
}

export type OutputListener = (item: { line: string } | { end: BuildEnd }) => void;

/**
 * A running build's output: the last OUTPUT_TAIL_BYTES characters are kept (for GET and for viewers
 * who join late) and every line is handed to the live viewers as it arrives.
 */
export class BuildOutput {
  #lines: string[] = [];
  #length = 0;
  #ended: BuildEnd | undefined;
  readonly #listeners = new Set<OutputListener>();

  get text(): string {
    return this.#lines.map((line) => `${line}\n`).join('');
  }

  get lines(): readonly string[] {
    return this.#lines;
  }

  get ended(): BuildEnd | undefined {
    return this.#ended;
  }

  push(line: string): void {
    this.#lines.push(line);
    this.#length += line.length + 1;
    while (this.#length > OUTPUT_TAIL_BYTES && this.#lines.length > 1)
      this.#length -= this.#lines.shift()!.length + 1;
    if (this.#length > OUTPUT_TAIL_BYTES) {
      // One line longer than the whole tail keeps only its end.
      this.#lines[0] = this.#lines[0]!.slice(-(OUTPUT_TAIL_BYTES - 1));
      this.#length = OUTPUT_TAIL_BYTES;
    }
    for (const listener of this.#listeners) listener({ line });
  }

  end(result: BuildEnd): void {
    this.#ended = result;
    for (const listener of this.#listeners) listener({ end: result });
    this.#listeners.clear();
  }

  subscribe(listener: OutputListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
