/**
 * A bounded map whose entries leave at their own expiry time. Reading an entry makes it the most
 * recently used; when full, the entry used least recently goes first (after anything expired).
 * Used for verified tokens, introspection answers and DPoP proof ids.
 */
export class ExpiringCache<V> {
  readonly #entries = new Map<string, { value: V; expiresAt: number }>();
  readonly #max: number;
  #sweptAt = 0;

  constructor(maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new TypeError(`cache size must be a positive integer, got ${maxEntries}`);
    this.#max = maxEntries;
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The value, unless absent or expired at `now` (milliseconds). */
  get(key: string, now: number): V | undefined {
    const entry = this.#entries.get(key);
    if (!entry) return undefined;
    this.#entries.delete(key);
    if (entry.expiresAt <= now) return undefined;
    this.#entries.set(key, entry);
    return entry.value;
  }

  /** Stores `value` until `expiresAt` (milliseconds); nothing when that is already past. */
  set(key: string, value: V, expiresAt: number, now: number): void {
    this.#entries.delete(key);
    if (expiresAt <= now) return;
    if (this.#entries.size >= this.#max) this.#makeRoom(now);
    this.#entries.set(key, { value, expiresAt });
  }

  /** Adds `key` unless it is present and unexpired; true when it was added. */
  add(key: string, value: V, expiresAt: number, now: number): boolean {
    if (this.get(key, now) !== undefined) return false;
    this.set(key, value, expiresAt, now);
    return true;
  }

  #makeRoom(now: number): void {
    // A full sweep at most once a second, so a cache full of live entries stays O(1) per insert.
    if (now - this.#sweptAt >= 1000) {
      this.#sweptAt = now;
      for (const [key, entry] of this.#entries) {
        if (entry.expiresAt <= now) this.#entries.delete(key);
      }
    }
    // Still full: drop the least recently used (Map iteration is insertion order).
    if (this.#entries.size >= this.#max) this.#entries.delete(this.#entries.keys().next().value!);
  }
}
