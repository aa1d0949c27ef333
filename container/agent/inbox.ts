/** An async queue the SDK reads its streaming input from: each push is taken by the next read. */
export class Inbox<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  #waiting: ((item: IteratorResult<T>) => void) | undefined;
  #closed = false;

  push(item: T): void {
    const wake = this.#waiting;
    this.#waiting = undefined;
    if (wake) wake({ value: item, done: false });
    else this.#items.push(item);
  }

  close(): void {
    this.#closed = true;
    this.#waiting?.({ value: undefined, done: true });
    this.#waiting = undefined;
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const item = this.#items.shift();
        if (item !== undefined) return Promise.resolve({ value: item, done: false });
        if (this.#closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve) => {
          this.#waiting = resolve;
        });
      },
    };
  }
}
