/**
 * Channel definitions in the controller's catalog (page set 0), as MQSC's DEFINE, ALTER and
 * DELETE CHANNEL keep them: every member of the group reads the same definitions. Each
 * change is a catalog record appended (replacing the one before) before it takes effect, in
 * the catalog's one-at-a-time order. A channel is given a CAS slot of the LUN for its entry in
 * the shared channel status table when it is defined, emptied then, and kept for its life.
 */
import { Errors, SanmqError } from '../errors.js';
import {
  applyChannelAttributes,
  newChannelAttributes,
  type ChannelAttributes,
  type ChannelDefinition,
} from '../channels/definition.js';
import type { SlotTable } from '../storage/slots.js';
import { requireName } from './attributes.js';
import { encodeCatalog, RECORD_CHANNEL } from './codec.js';
import type { MessageStore } from './store.js';
import { PAGE_SET_CATALOG } from './store.js';

interface Stored {
  definition: ChannelDefinition;
  address: number;
}

export interface ChannelCatalogHost {
  check(): void;
  serial<T>(work: () => Promise<T>): Promise<T>;
  readonly store: MessageStore;
  readonly slots: SlotTable;
}

export class ChannelCatalog {
  readonly #host: ChannelCatalogHost;
  readonly #channels: Map<string, Stored>;
  /** Whether an instance of the channel runs (a delete is refused then); set by the group. */
  isActive: (name: string) => Promise<boolean> = async () => false;

  constructor(host: ChannelCatalogHost, channels: Map<string, Stored>) {
    this.#host = host;
    this.#channels = channels;
  }

  /** Compaction moved records: the channels' addresses follow them. */
  moved(moves: Map<number, number>): void {
    for (const stored of this.#channels.values()) {
      const to = moves.get(stored.address);
      if (to !== undefined) stored.address = to;
    }
  }

  /**
   * DEFINE CHANNEL: a new definition (E_CHANNEL_EXISTS unless `replace`, which returns what
   * is not given to its default and keeps the channel's status slot).
   */
  defineChannel(name: string, attributes: Partial<ChannelAttributes> & Pick<ChannelAttributes, 'type'>,
    options: { replace?: boolean } = {}): Promise<ChannelDefinition> {
    return this.#host.serial(async () => {
      this.#host.check();
      requireName(name, 'channel name');
      if (typeof options !== 'object' || options === null ||
          Object.keys(options).some((key) => key !== 'replace')) {
        throw Errors.invalidArgument('defineChannel takes only the option replace');
      }
      const resolved = newChannelAttributes(attributes);
      const existing = this.#channels.get(name);
      if (existing !== undefined && options.replace !== true) throw Errors.channelExists(name);
      const statusSlot = existing?.definition.statusSlot ?? await this.#freshSlot();
      return this.#write({ name, statusSlot, ...resolved }, existing);
    });
  }

  /** ALTER CHANNEL: changes attributes durably (the type too, within the rules). */
  alterChannel(name: string, changes: Partial<ChannelAttributes>): Promise<ChannelDefinition> {
    return this.#host.serial(async () => {
      this.#host.check();
      const existing = this.#stored(name);
      const { name: _name, statusSlot, ...attributes } = existing.definition;
      return this.#write({ name, statusSlot, ...applyChannelAttributes(attributes, changes) }, existing);
    });
  }

  /** DELETE CHANNEL: refused while an instance runs (E_CHANNEL_ACTIVE). */
  deleteChannel(name: string): Promise<void> {
    return this.#host.serial(async () => {
      this.#host.check();
      const existing = this.#stored(name);
      if (await this.isActive(name)) {
        throw Errors.channelActive(name, `channel '${name}' runs; stop it first`);
      }
      await this.#host.store.release(() => [existing.address], PAGE_SET_CATALOG);
      this.#channels.delete(name);
    });
  }

  channel(name: string): ChannelDefinition {
    this.#host.check();
    return { ...this.#stored(name).definition };
  }

  /** Every channel definition, by name. */
  channelList(): ChannelDefinition[] {
    this.#host.check();
    return [...this.#channels.values()].map((s) => ({ ...s.definition }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  #stored(name: string): Stored {
    const stored = this.#channels.get(name);
    if (stored === undefined) throw Errors.unknownChannel(name);
    return stored;
  }

  async #write(definition: ChannelDefinition, existing: Stored | undefined): Promise<ChannelDefinition> {
    const { name, statusSlot, ...attributes } = definition;
    const [address] = await this.#host.store.append(PAGE_SET_CATALOG,
      [encodeCatalog(RECORD_CHANNEL, { name, statusSlot, attributes })],
      () => (existing === undefined ? [] : [existing.address])) as [number];
    this.#channels.set(name, { definition, address });
    return { ...definition };
  }

  /**
   * The lowest CAS slot no channel holds, emptied (by compare-and-swap, so the last owner's
   * entry cannot linger) before the channel that gets it is recorded.
   */
  async #freshSlot(): Promise<number> {
    const used = new Set([...this.#channels.values()].map((s) => s.definition.statusSlot));
    const slots = this.#host.slots;
    for (let slot = 0; slot < slots.slotCount; slot++) {
      if (used.has(slot)) continue;
      const empty = Buffer.alloc(slots.slotBytes);
      for (let attempt = 0; attempt < 16; attempt++) {
        const image = await slots.read(slot);
        if (image.equals(empty) || await slots.cas(slot, image, empty)) return slot;
      }
      throw new SanmqError('E_CHANNEL_STATUS', `status slot ${slot} kept changing while it was emptied`);
    }
    throw new SanmqError('E_BUSY', `all ${slots.slotCount} status slots of the LUN hold channels; ` +
      'delete a channel or format the LUN with more casSlots');
  }
}
