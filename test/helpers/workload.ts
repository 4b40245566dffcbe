/**
 * A seeded storage workload and its checker, for crash and fault sweeps. The workload runs in
 * waves (each wave's operations are issued together and awaited together, so they share
 * flushes the same way on every run): appends of self-describing records to a few page sets,
 * releases, compactions and slot compare-and-swaps. It remembers what was acknowledged. After
 * a crash and a reopen, the checker compares the LUN with that memory:
 *   - every acknowledged record that no acknowledged release removed is present, once, with
 *     its exact bytes (lost = 0);
 *   - every record present was really appended, appears once, in its page set, and was not
 *     removed by an acknowledged release (phantom = 0, duplicate = 0, resurrected = 0);
 *   - every slot holds its last acknowledged image or the image of the one CAS in flight.
 */
import { Lun, type Address, isSanmqError } from '../../src/index.js';
import { Random } from './random.js';

export type Profile = 'append' | 'mixed' | 'slots';

export interface WorkloadOptions {
  seed: number;
  waves: number;
  profile: Profile;
  pageSets?: number;
  slotCount?: number;
}

interface Submitted {
  id: number;
  pageSet: number;
  length: number;
  acked: boolean;
  address?: Address;
  /** Removed by an acknowledged release. */
  releasedAcked: boolean;
  /** Named by a release whose outcome is unknown. */
  releaseUnknown: boolean;
}

interface SlotState {
  acked: Buffer;
  inFlight: Buffer | undefined;
}

export interface History {
  records: Map<number, Submitted>;
  slots: Map<number, SlotState>;
  acknowledgedAppends: number;
  failures: number;
  firstFailure: string | undefined;
}

export interface Verdict {
  lost: number[];
  phantom: number;
  duplicated: number[];
  resurrected: number[];
  wrongBytes: number[];
  badSlots: number[];
  present: number;
}

const MAGIC = 0x314b4843; // "CHK1"


/** The bytes of record `id`: a header naming it, then filler derived from the id. */
export function payload(id: number, length: number): Buffer {
  const bytes = Buffer.alloc(length);
  const header = Buffer.alloc(8);
  header.writeUInt32LE(MAGIC, 0);
  header.writeUInt32LE(id, 4);
  header.copy(bytes, 0, 0, Math.min(8, length));
  const filler = new Random(id * 2654435761);
  for (let i = 8; i < length; i++) bytes[i] = filler.next() & 0xff;
  return bytes;
}

function idOf(data: Buffer): number | undefined {
  if (data.length < 8 || data.readUInt32LE(0) !== MAGIC) return undefined;
  return data.readUInt32LE(4);
}

function recordLength(random: Random): number {
  const r = random.below(100);
  if (r < 50) return 8 + random.below(200);
  if (r < 85) return 8 + random.below(4000);
  return 8 + random.below(20_000);
}

function slotImage(slotBytes: number, value: number): Buffer {
  const image = Buffer.alloc(slotBytes);
  image.writeUInt32LE(value, 0);
  image.writeUInt32LE((value ^ 0xa5a5a5a5) >>> 0, slotBytes - 4);
  return image;
}

export function emptyHistory(): History {
  return { records: new Map(), slots: new Map(), acknowledgedAppends: 0, failures: 0, firstFailure: undefined };
}

/** Runs the workload until its waves are done or the LUN fails; never throws for I/O. */
export async function runWorkload(lun: Lun, options: WorkloadOptions): Promise<History> {
  const random = new Random(options.seed);
  const pageSets = options.pageSets ?? 3;
  const slotCount = Math.min(options.slotCount ?? 2, lun.slots.slotCount);
  const history = emptyHistory();
  for (let s = 0; s < slotCount; s++) {
    history.slots.set(s, { acked: Buffer.alloc(lun.slots.slotBytes), inFlight: undefined });
  }
  let nextId = 1;
  let failed = false;
  const fail = (error: unknown) => {
    history.failures++;
    if (!isSanmqError(error)) throw error;
    if (!['E_CRASHED', 'E_FAILED', 'E_IO', 'E_NO_SPACE'].includes(error.code)) throw error;
    history.firstFailure ??= `${error.code}: ${error.message}`;
    failed = true;
  };
  const liveIds = (pageSet: number) =>
    [...history.records.values()].filter(
      (r) => r.pageSet === pageSet && r.acked && !r.releasedAcked && !r.releaseUnknown,
    );

  const appendOp = async (pageSet: number, release: Submitted[]) => {
    const count = 1 + random.below(3);
    const entries: Submitted[] = [];
    for (let i = 0; i < count; i++) {
      const entry: Submitted = {
        id: nextId++, pageSet, length: recordLength(random), acked: false,
        releasedAcked: false, releaseUnknown: false,
      };
      history.records.set(entry.id, entry);
      entries.push(entry);
    }
    for (const r of release) r.releaseUnknown = true;
    try {
      const addresses = await lun.append(
        pageSet,
        entries.map((e) => payload(e.id, e.length)),
        release.length ? { release: release.map((r) => r.address as Address) } : undefined,
      );
      entries.forEach((e, i) => {
        e.acked = true;
        e.address = addresses[i] as Address;
      });
      for (const r of release) {
        r.releaseUnknown = false;
        r.releasedAcked = true;
      }
      history.acknowledgedAppends++;
    } catch (error) {
      fail(error);
    }
  };

  const compactOp = async () => {
    try {
      const result = await lun.compact({ liveRatioMax: 0.6, segmentsMax: 2 });
      const byAddress = new Map<Address, Submitted>();
      for (const r of history.records.values()) if (r.address !== undefined) byAddress.set(r.address, r);
      for (const { from, to } of result.moved) {
        const r = byAddress.get(from);
        if (r !== undefined) r.address = to;
      }
    } catch (error) {
      fail(error);
    }
  };

  const casOp = async (slot: number) => {
    const state = history.slots.get(slot) as SlotState;
    const value = random.next();
    const next = slotImage(lun.slots.slotBytes, value);
    state.inFlight = next;
    try {
      const swapped = await lun.slots.cas(slot, state.acked, next);
      if (!swapped) throw new Error(`slot ${slot}: cas with the acknowledged image failed`);
      state.acked = next;
      state.inFlight = undefined;
    } catch (error) {
      fail(error);
    }
  };

  for (let wave = 0; wave < options.waves && !failed; wave++) {
    const ops: Array<Promise<void>> = [];
    const width = 1 + random.below(4);
    const releasing = new Set<number>();
    for (let i = 0; i < width; i++) {
      const pageSet = 1 + random.below(pageSets);
      const roll = random.below(100);
      if (options.profile === 'slots' && roll < 60 && slotCount > 0) {
        const slot = random.below(slotCount);
        // One CAS per slot at a time keeps "acknowledged image" well defined.
        if (!releasing.has(-1 - slot)) {
          releasing.add(-1 - slot);
          ops.push(casOp(slot));
        }
        continue;
      }
      if (options.profile === 'mixed' && roll < 8) {
        ops.push(compactOp());
        continue;
      }
      const release: Submitted[] = [];
      if (options.profile !== 'append' && roll < 55) {
        const candidates = liveIds(pageSet).filter((r) => !releasing.has(r.id));
        const take = Math.min(candidates.length, random.below(6));
        for (let k = 0; k < take; k++) {
          const pick = candidates.splice(random.below(candidates.length), 1)[0] as Submitted;
          releasing.add(pick.id);
          release.push(pick);
        }
      }
      ops.push(appendOp(pageSet, release));
    }
    await Promise.all(ops);
  }
  return history;
}

/** Compares a reopened LUN with the history of the run that crashed. */
export async function check(lun: Lun, history: History, pageSets = 3): Promise<Verdict> {
  const verdict: Verdict = {
    lost: [], phantom: 0, duplicated: [], resurrected: [], wrongBytes: [], badSlots: [], present: 0,
  };
  const seen = new Set<number>();
  for (let pageSet = 1; pageSet <= pageSets; pageSet++) {
    for await (const record of lun.records(pageSet)) {
      verdict.present++;
      const id = idOf(record.data);
      const entry = id === undefined ? undefined : history.records.get(id);
      if (id === undefined || entry === undefined || entry.pageSet !== pageSet) {
        verdict.phantom++;
        continue;
      }
      if (seen.has(id)) verdict.duplicated.push(id);
      seen.add(id);
      if (entry.releasedAcked) verdict.resurrected.push(id);
      if (!record.data.equals(payload(id, entry.length))) verdict.wrongBytes.push(id);
    }
  }
  for (const entry of history.records.values()) {
    if (entry.acked && !entry.releasedAcked && !entry.releaseUnknown && !seen.has(entry.id)) {
      verdict.lost.push(entry.id);
    }
  }
  for (const [slot, state] of history.slots) {
    const image = await lun.slots.read(slot);
    if (!image.equals(state.acked) && !(state.inFlight !== undefined && image.equals(state.inFlight))) {
      verdict.badSlots.push(slot);
    }
  }
  return verdict;
}

export function clean(v: Verdict): boolean {
  return v.lost.length === 0 && v.phantom === 0 && v.duplicated.length === 0 &&
    v.resurrected.length === 0 && v.wrongBytes.length === 0 && v.badSlots.length === 0;
}
