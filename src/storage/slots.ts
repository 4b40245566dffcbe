/**
 * Compare-and-swap slots: a table of small fixed-size records on the LUN that every process
 * attached to it may update, only ever by replacing a before-image with an after-image. A true
 * result is durable; after any crash a slot reads as one image or the other, never garbage.
 */
import { Errors, fromNative } from '../errors.js';
import type { NativeLun } from './binding.js';
import { integer } from './options.js';

export class SlotTable {
  readonly #native: NativeLun;
  readonly #isClosed: () => boolean;
  readonly #close: (() => Promise<void>) | undefined;
  /** How many slots the LUN was formatted with. */
  readonly slotCount: number;
  /** How many bytes every slot image holds. */
  readonly slotBytes: number;
  readonly #readOnly: boolean;

  /** @internal Built by Lun; use `lun.slots` or `Lun.attach()`. */
  constructor(
    native: NativeLun,
    isClosed: () => boolean,
    readOnly: boolean,
    close?: () => Promise<void>,
  ) {
    this.#native = native;
    this.#isClosed = isClosed;
    this.#readOnly = readOnly;
    this.#close = close;
    const geometry = native.geometry();
    this.slotCount = geometry.casSlots;
    this.slotBytes = geometry.casSlotBytes;
  }

  /** The current image of `slot` (a Buffer of `slotBytes` bytes; all zeros when never set). */
  async read(slot: number): Promise<Buffer> {
    this.#check(slot);
    try {
      return await this.#native.slotRead(slot);
    } catch (error) {
      throw fromNative(error);
    }
  }

  /**
   * Replaces the image of `slot` with `after` if it currently equals `before`. Resolves true
   * once the new image is durable, false (changing nothing) when `before` is stale.
   */
  async cas(slot: number, before: Uint8Array, after: Uint8Array): Promise<boolean> {
    this.#check(slot);
    if (this.#readOnly) throw Errors.readOnly();
    for (const [name, image] of [['before', before], ['after', after]] as const) {
      if (!(image instanceof Uint8Array) || image.byteLength !== this.slotBytes) {
        throw Errors.invalidArgument(`${name} must be a Buffer of ${this.slotBytes} bytes`);
      }
    }
    try {
      return await this.#native.slotCas(slot, before, after);
    } catch (error) {
      throw fromNative(error);
    }
  }

  /** Closes an attachment made by `Lun.attach()`; a LUN's own table closes with the LUN. */
  async close(): Promise<void> {
    if (this.#close === undefined) {
      throw Errors.invalidArgument('this slot table belongs to an open LUN: close the LUN');
    }
    await this.#close();
  }

  #check(slot: number): void {
    if (this.#isClosed()) throw Errors.closed();
    integer(slot, 'slot', 0, this.slotCount - 1);
  }
}
