/**
 * Mount-time recovery of the controller's state from the LUN: the catalog (page set 0) gives
 * the queues and the controller's attributes; the message page set gives committed messages,
 * in-doubt units and the leftovers of units that never committed. The decision table is in
 * units.ts; this file carries it out and counts what it did.
 */
import { storedChannelAttributes, type ChannelDefinition } from '../channels/definition.js';
import { Errors, SanmqError } from '../errors.js';
import type { RecoveryReport } from '../storage/lun.js';
import { storedAttributes } from './attributes.js';
import {
  decodeCatalog,
  decodeMessageHead,
  decodeUnit,
  CORRELATION_AT,
  ID_AT,
  idHash,
  MESSAGE_HEAD_BYTES,
  readHeadAt,
  RECORD_CHANNEL,
  RECORD_CONTROLLER,
  RECORD_QUEUE,
  RECORD_UNIT,
  UNIT_COMMITTED,
  type MessageHead,
  type UnitRecord,
} from './codec.js';
import { SLOT_LOCKED } from './message-index.js';
import { Queue } from './queue.js';
import type { QueueStore } from './queue-store.js';
import { PAGE_SET_CATALOG, PAGE_SET_MESSAGES } from './store.js';
import { Unit, type Syncpoint } from './units.js';

export interface MountReport {
  /** Wall time of the whole mount, from opening the LUN to accepting work. */
  durationMs: number;
  /** What the storage core's own recovery scan found. */
  lun: RecoveryReport;
  queues: number;
  /** Committed persistent messages back on their queues. */
  messages: number;
  messageBytes: number;
  /** Prepared units of work, now in doubt (see controller.inDoubt()). */
  inDoubtUnits: number;
  /** Units of work whose puts had reached the LUN but that never committed: rolled back. */
  rolledBackUnits: number;
  rolledBackMessages: number;
  /** Messages of queues no longer defined, and messages found expired: released. */
  orphanMessages: number;
  expiredMessages: number;
  /** Records released to finish what the crash interrupted. */
  releasedRecords: number;
}

export interface CatalogState {
  deadLetterQueue: string;
  controllerAddress: number;
  nextQueueId: number;
  /** Channel definitions and the addresses of their records. */
  channels: Map<string, { definition: ChannelDefinition; address: number }>;
}

interface PendingPut {
  head: MessageHead;
  address: number;
  record: Buffer;
}

/** Restores the queues from the catalog. */
export async function recoverCatalog(queues: QueueStore, messageLengthMax: number):
Promise<CatalogState> {
  const state: CatalogState = { deadLetterQueue: '', controllerAddress: -1, nextQueueId: 1,
    channels: new Map() };
  for await (const record of queues.store.lun.records(PAGE_SET_CATALOG)) {
    const { type, value } = decodeCatalog(record.data);
    if (type === RECORD_CONTROLLER) {
      state.deadLetterQueue = typeof value['deadLetterQueue'] === 'string' ? value['deadLetterQueue'] : '';
      state.controllerAddress = record.address;
    } else if (type === RECORD_QUEUE) {
      const id = value['id'];
      const name = value['name'];
      if (typeof id !== 'number' || typeof name !== 'string') {
        throw Errors.internal(`catalog record at ${record.address} lacks an id or a name`);
      }
      const queue = new Queue(id, name, storedAttributes(value['attributes'], messageLengthMax),
        record.address);
      queues.byName.set(name, queue);
      queues.byId.set(id, queue);
      state.nextQueueId = Math.max(state.nextQueueId, id + 1);
    } else if (type === RECORD_CHANNEL) {
      const name = value['name'];
      const statusSlot = value['statusSlot'];
      if (typeof name !== 'string' || typeof statusSlot !== 'number') {
        throw Errors.internal(`channel record at ${record.address} lacks a name or a status slot`);
      }
      state.channels.set(name, { address: record.address, definition: { name, statusSlot,
        ...storedChannelAttributes(value['attributes']) } });
    }
  }
  return state;
}

/** Restores messages and units of work; returns the counts for the mount report. */
export async function recoverMessages(queues: QueueStore, syncpoint: Syncpoint):
Promise<Omit<MountReport, 'durationMs' | 'lun' | 'queues'> & { highestQueueId: number }> {
  const report = { messages: 0, messageBytes: 0, inDoubtUnits: 0, rolledBackUnits: 0,
    rolledBackMessages: 0, orphanMessages: 0, expiredMessages: 0, releasedRecords: 0,
    highestQueueId: 0 };
  const release: number[] = [];
  const pending: PendingPut[] = [];
  const units = new Map<number, { record: UnitRecord; address: number }>();
  const now = Date.now();
  const unitAddresses: number[] = [];
  const pendingAddresses: number[] = [];
  const lun = queues.store.lun;
  for await (const batch of lun.heads(PAGE_SET_MESSAGES, MESSAGE_HEAD_BYTES)) {
    const heads = batch.heads;
    const view = new DataView(heads.buffer, heads.byteOffset, heads.byteLength);
    for (let i = 0; i < batch.addresses.length; i++) {
      const address = batch.addresses[i] as number;
      const at = i * MESSAGE_HEAD_BYTES;
      if (heads[at] === RECORD_UNIT) {
        unitAddresses.push(address);
        continue;
      }
      const fields = readHeadAt(view, at);
      if (fields === undefined) {
        throw new SanmqError('E_CORRUPT', `controller record at address ${address} has ` +
          `unknown type ${heads[at]} or version ${heads[at + 1]}`, { address });
      }
      queues.seeSequence(fields.sequence);
      if (fields.queueId > report.highestQueueId) report.highestQueueId = fields.queueId;
      if (fields.unitId !== 0) {
        syncpoint.seeUnitId(fields.unitId);
        pendingAddresses.push(address);
        continue;
      }
      const queue = queues.byId.get(fields.queueId);
      if (queue === undefined) {
        report.orphanMessages++;
        release.push(address);
      } else if (fields.expiresAt !== 0 && fields.expiresAt <= now) {
        report.expiredMessages++;
        release.push(address);
      } else {
        queues.insertHead(queue, fields.sequence, fields.priority, fields.expiresAt,
          fields.backoutCount, idHash(heads, at + ID_AT), idHash(heads, at + CORRELATION_AT),
          address);
        report.messages++;
        report.messageBytes += batch.lengths[i] as number;
      }
    }
  }
  // Unit records and the puts stamped with a unit id are few (bounded by the units' size):
  // they are read whole.
  for (const address of unitAddresses) {
    const record = decodeUnit(await lun.read(address));
    syncpoint.seeUnitId(record.unitId);
    for (const sequence of record.consumed) queues.seeSequence(sequence);
    units.set(record.unitId, { record, address });
  }
  for (const address of pendingAddresses) {
    const data = await lun.read(address);
    pending.push({ head: decodeMessageHead(data), address, record: data });
  }
  settleUnits(queues, syncpoint, units, pending, release, report);
  await queues.store.release(release);
  report.releasedRecords = release.length;
  return report;
}

/** Applies the decision table of units.ts to the unit records and the puts stamped with them. */
function settleUnits(queues: QueueStore, syncpoint: Syncpoint,
  units: Map<number, { record: UnitRecord; address: number }>, pending: PendingPut[],
  release: number[], report: { messages: number; messageBytes: number; inDoubtUnits: number;
    rolledBackUnits: number; rolledBackMessages: number; orphanMessages: number }): void {
  const rolledBack = new Set<number>();
  const committedRefs = new Map<number, number>();
  const prepared = new Map<number, Unit>();
  for (const [unitId, { record, address }] of units) {
    if (record.state === UNIT_COMMITTED) continue;
    const unit = new Unit(unitId);
    unit.state = 'prepared';
    unit.xid = record.xid;
    unit.preparedAddress = address;
    unit.recovered = true;
    prepared.set(unitId, unit);
  }
  for (const put of pending) {
    const owner = units.get(put.head.unitId);
    const queue = queues.byId.get(put.head.queueId);
    if (owner === undefined || queue === undefined) {
      if (owner === undefined) rolledBack.add(put.head.unitId);
      if (owner === undefined) report.rolledBackMessages++;
      else report.orphanMessages++;
      release.push(put.address);
      continue;
    }
    if (owner.record.state === UNIT_COMMITTED) {
      let ref = committedRefs.get(put.head.unitId);
      if (ref === undefined) {
        ref = queues.addUnitRecord(owner.address, 0);
        committedRefs.set(put.head.unitId, ref);
      }
      (queues.unitRecords.get(ref) as { refs: number }).refs++;
      queues.insert(queue, { ...put.head, record: put.record }, put.address, ref);
      report.messages++;
      report.messageBytes += put.record.length;
    } else {
      const unit = prepared.get(put.head.unitId) as Unit;
      unit.puts.push({ queue, persistent: true, address: put.address, ref: 0,
        fields: { ...put.head, record: put.record } });
      queue.uncommittedPuts++;
    }
  }
  for (const [unitId, { record, address }] of units) {
    if (record.state === UNIT_COMMITTED && !committedRefs.has(unitId)) release.push(address);
  }
  lockInDoubtGets(queues, units, prepared);
  for (const unit of prepared.values()) syncpoint.adopt(unit);
  report.inDoubtUnits = prepared.size;
  report.rolledBackUnits = rolledBack.size;
}

/** The messages an in-doubt unit got stay claimed and locked by it. */
function lockInDoubtGets(queues: QueueStore, units: Map<number, { record: UnitRecord }>,
  prepared: Map<number, Unit>): void {
  const wanted = new Map<number, Unit>();
  for (const [unitId, unit] of prepared) {
    for (const sequence of (units.get(unitId) as { record: UnitRecord }).record.consumed) {
      wanted.set(sequence, unit);
    }
  }
  if (wanted.size === 0) return;
  const index = queues.store.index;
  for (let slot = 0; slot < index.capacity && wanted.size > 0; slot++) {
    if (index.state[slot] === 0) continue;
    const unit = wanted.get(index.sequence[slot] as number);
    if (unit === undefined) continue;
    wanted.delete(index.sequence[slot] as number);
    const queue = queues.byId.get(index.queueId[slot] as number) as Queue;
    if (index.state[slot] !== SLOT_LOCKED) queue.claim(index, slot);
    unit.gets.push({ queue, slot });
    queues.locks.tryAcquire(`msg:${index.sequence[slot]}`, unit.owner, 'exclusive');
  }
}
