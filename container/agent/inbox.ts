/** An endless async queue the SDK reads its streaming input from: each push is taken by the next read. */
export class Inbox<T> implements AsyncIterable<T> {
  readonly #items: T[] = [];
  #waiting: ((item: IteratorResult<T>) => void) | undefined;

  push(item: T): void {
    const wake = this.#waiting;
    this.#waiting = undefined;
    if (wake) wake({ value: item, done: false });
    else this.#items.push(item);
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const item = this.#items.shift();
        if (item !== undefined) return Promise.resolve({ value: item, done: false });
        return new Promise((resolve) => {
          this.#waiting = resolve;
        });
      },
    };
  }
}
