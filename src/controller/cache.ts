/**
 * The controller's cache of message records, by index slot, bounded in bytes.
 */

/**
 * A bounded cache of records by index slot. When it is full it admits nothing new rather than
 * evicting: queues are consumed oldest first, so the records already cached are the ones the
 * next gets want, and a backlog larger than the cache is read from the LUN only past its head.
 */
export class RecordCache {
  readonly #entries = new Map<number, Buffer>();
  readonly #bytesMax: number;
  bytes = 0;
  hits = 0;
  misses = 0;

  constructor(bytesMax: number) {
    this.#bytesMax = bytesMax;
  }

  get size(): number {
    return this.#entries.size;
  }

  has(slot: number): boolean {
    return this.#entries.has(slot);
  }

  /** Whether `bytes` more would not fit. */
  full(bytes: number): boolean {
    return this.bytes + bytes > this.#bytesMax;
  }

  get(slot: number): Buffer | undefined {
    const record = this.#entries.get(slot);
    if (record === undefined) this.misses++;
    else this.hits++;
    return record;
  }

  set(slot: number, record: Buffer): void {
    this.delete(slot);
    if (this.bytes + record.length > this.#bytesMax) return;
    this.#entries.set(slot, record);
    this.bytes += record.length;
  }

  delete(slot: number): void {
    const record = this.#entries.get(slot);
    if (record === undefined) return;
    this.#entries.delete(slot);
    this.bytes -= record.length;
  }
}
