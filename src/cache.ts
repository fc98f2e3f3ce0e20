/**
 * A per-isolate map of at most `capacity` entries, least recently used evicted first. It is
 * memory, not a store: an isolate may be dropped at any time and another one starts empty, so
 * only what is safe to re-read from D1 (and safe to serve from an older read) belongs here.
 * Each caller decides that, and states it where it uses one.
 */
import { assert } from "./assert";

export class BoundedCache<V> {
  private readonly entries = new Map<string, V>();

  constructor(readonly capacity: number) {
    assert(Number.isInteger(capacity) && capacity > 0, "BoundedCache: capacity must be a positive integer");
  }

  get(key: string): V | undefined {
    const value = this.entries.get(key);
    if (value === undefined) return undefined;
    // A Map iterates in insertion order: re-inserting makes this the most recently used.
    this.entries.delete(key);
    this.entries.set(key, value);
    return value;
  }

  set(key: string, value: V): void {
    this.entries.delete(key);
    if (this.entries.size >= this.capacity) this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(key, value);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  keys(): IterableIterator<string> {
    return this.entries.keys();
  }
}
