// The emitter's queue: one ring buffer per severity, so a full queue sheds the lowest severity in O(1).

/** A FIFO ring buffer: O(1) push, shift and unshift; it grows by doubling and never shrinks. */
export class Fifo<T> {
  private items: (T | undefined)[] = new Array(64);
  private head = 0;
  length = 0;
  private grow(): void {
    const old = this.items;
    const items = new Array<T | undefined>(old.length * 2);
    for (let i = 0; i < this.length; i++) items[i] = old[(this.head + i) & (old.length - 1)];
    this.items = items;
    this.head = 0;
  }
  push(item: T): void {
    if (this.length === this.items.length) this.grow();
    this.items[(this.head + this.length) & (this.items.length - 1)] = item;
    this.length += 1;
  }
  unshift(item: T): void {
    if (this.length === this.items.length) this.grow();
    this.head = (this.head - 1) & (this.items.length - 1);
    this.items[this.head] = item;
    this.length += 1;
  }
  shift(): T | undefined {
    if (!this.length) return undefined;
    const item = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) & (this.items.length - 1);
    this.length -= 1;
    return item;
  }
  drain(): T[] {
    const out: T[] = [];
    while (this.length) out.push(this.shift() as T);
    return out;
  }
}
