/**
 * I/O errors under the log, injected by the fault-injecting device: the k-th write or sync
 * fails (EIO, ENOSPC or a short write; once or from then on) for every k a small workload
 * reaches, and the k-th I/O of an open. Every operation resolves or rejects with a coded
 * error; after the first failure nothing more is acknowledged (fail-stop); an fdatasync that
 * fails acknowledges nothing of its batch; and reopening without faults finds every
 * acknowledged record byte-identical, no released record, nothing never written, and no
 * corruption. As in SQLite's I/O-error tests, the sweep runs until k passes the last I/O.
 */
import { copyFile } from 'node:fs/promises';

import t from 'tap';

import { Lun, type CrashMode, type FormatOptions } from '../src/index.js';
import { freshLun } from './helpers/lun.js';
import { payload, readPageSet, rejectionOf, waitFor } from './helpers/log.js';

type FailOn = 'write' | 'sync' | 'any';
type FailKind = 'eio' | 'enospc' | 'short';

const TINY: FormatOptions = { sizeBytes: 2 * 1024 * 1024, segmentBytes: 64 * 1024, casSlots: 4 };
const CODES = ['E_IO', 'E_NO_SPACE', 'E_FAILED'];

interface Operation {
  name: string;
  pageSet: number;
  records: Buffer[];
  /** Addresses this operation releases. */
  releases: number[];
  addresses?: number[];
  settled?: number;
  code?: string;
}

/** What a workload run saw, in the order operations settled. */
class Journal {
  readonly operations: Operation[] = [];
  #settled = 0;

  track(operation: Operation, promise: Promise<number[] | void>): Promise<void> {
    this.operations.push(operation);
    return promise.then(
      (addresses) => {
        operation.settled = this.#settled++;
        if (Array.isArray(addresses)) operation.addresses = addresses;
      },
      (error: { code?: string }) => {
        operation.settled = this.#settled++;
        operation.code = error.code ?? String(error);
      },
    );
  }

  acknowledged(operation: Operation): boolean {
    return operation.settled !== undefined && operation.code === undefined;
  }

  /** Addresses of the records an acknowledged append wrote (empty otherwise). */
  written(name: string): number[] {
    const operation = this.operations.find((o) => o.name === name);
    return operation?.addresses ?? [];
  }
}

let seed = 0;
const records = (...sizes: number[]) => sizes.map((size) => payload(size, ++seed));

/**
 * A fixed script over page sets 1 and 2: appends alone and grouped in one flush, appends that
 * open new segments, releases alone and inside appends, and releases that empty a segment.
 */
async function workload(lun: Lun, journal: Journal): Promise<void> {
  const append = (name: string, pageSet: number, data: Buffer[], release: number[] = []) =>
    journal.track({ name, pageSet, records: data, releases: release },
      release.length > 0 ? lun.append(pageSet, data, { release }) : lun.append(pageSet, data));
  const release = (name: string, pageSet: number, addresses: number[]) =>
    addresses.length === 0
      ? Promise.resolve()
      : journal.track({ name, pageSet, records: [], releases: addresses }, lun.release(addresses));
  seed = 0;
  await append('a1', 1, records(100, 3000));
  await Promise.all([append('a2', 2, records(5000)), append('a3', 1, records(10, 0, 7))]);
  await append('a4', 1, records(40_000));
  await release('r1', 1, journal.written('a1'));
  await append('a5', 2, records(60_000));
  await append('a6', 1, records(200), journal.written('a3'));
  await Promise.all([append('a7', 2, records(1)), append('a8', 1, records(2, 3000))]);
  await release('r2', 2, journal.written('a2'));
  await append('a9', 2, records(30_000, 20_000));
  await Promise.all([1, 2, 3, 4].map((i) => append(`b${i}`, 1 + (i % 2), records(500 * i))));
}

/** Reopens without faults and checks the LUN against what the run acknowledged. */
async function verify(path: string, journal: Journal): Promise<string[]> {
  const problems: string[] = [];
  const lun = await Lun.open(path).catch((error: Error) => error);
  if (lun instanceof Error) return [`reopen failed: ${lun.message}`];
  try {
    if (lun.recovery.corruptions.length > 0) problems.push('recovery reports corruption');
    const live = new Map<string, number>();  // data (hex) -> address
    for (const pageSet of [1, 2]) {
      for (const r of await readPageSet(lun, pageSet)) live.set(r.data.toString('hex'), r.address);
    }
    const attempted =
      new Set(journal.operations.flatMap((o) => o.records.map((d) => d.toString('hex'))));
    for (const key of live.keys()) if (!attempted.has(key)) problems.push('a phantom record');
    // An acknowledged release must have happened; one that failed may have happened or not.
    const released = new Set(journal.operations.filter((o) => journal.acknowledged(o))
      .flatMap((o) => o.releases));
    const attemptedReleases = new Set(journal.operations.flatMap((o) => o.releases));
    for (const o of journal.operations.filter((op) => journal.acknowledged(op))) {
      o.records.forEach((data, i) => {
        const address = o.addresses?.[i] as number;
        const at = live.get(data.toString('hex'));
        if (released.has(address)) {
          if (at !== undefined) problems.push(`${o.name}[${i}] was released but is live`);
        } else if (attemptedReleases.has(address)) {
          if (at !== undefined && at !== address) problems.push(`${o.name}[${i}] moved to ${at}`);
        } else if (at !== address) {
          problems.push(`${o.name}[${i}] acknowledged at ${address} is ${at ?? 'missing'}`);
        }
      });
    }
  } finally {
    await lun.close();
  }
  return problems;
}

/** Fail-stop and coded errors, from the journal of one run. */
function checkRun(journal: Journal): string[] {
  const problems: string[] = [];
  const settled = [...journal.operations].sort((a, b) => (a.settled ?? 0) - (b.settled ?? 0));
  let failedAt: string | undefined;
  for (const o of settled) {
    if (o.settled === undefined) problems.push(`${o.name} never settled`);
    if (o.code !== undefined && !CODES.includes(o.code)) problems.push(`${o.name}: ${o.code}`);
    if (o.code === undefined && failedAt !== undefined) {
      problems.push(`${o.name} was acknowledged after ${failedAt} failed`);
    }
    if (o.code !== undefined) failedAt ??= o.name;
  }
  return problems;
}

interface Plan {
  on: FailOn;
  kind: FailKind;
  persistent: boolean;
  k: number;
  /** What becomes of the writes left unsynced: a failed fdatasync does not undo them. */
  crash: CrashMode;
}

async function runOnce(pristine: string, path: string, plan: Plan) {
  await copyFile(pristine, path);
  const lun = await Lun.open(path, { faults: { seed: plan.k }, prefillSegmentsAhead: 0 });
  lun.faults?.failAt({ io: plan.k, on: plan.on, kind: plan.kind, persistent: plan.persistent });
  const journal = new Journal();
  await workload(lun, journal);
  const failed = journal.operations.some((o) => o.code !== undefined);
  const problems = checkRun(journal);
  if (failed) {
    const after = await lun.append(1, records(1)).then(() => 'acknowledged',
      (error: { code?: string }) => error.code);
    if (after !== 'E_FAILED') problems.push(`an append after the failure: ${after}`);
  }
  lun.faults?.crash(plan.crash);
  await lun.close();
  problems.push(...(await verify(path, journal)));
  return { failed, problems };
}

/** Counts the writes and syncs the workload makes, the frees it causes included. */
async function countIo(pristine: string, path: string) {
  await copyFile(pristine, path);
  const lun = await Lun.open(path, { faults: { seed: 1 }, prefillSegmentsAhead: 0 });
  const start = lun.faults?.counters() ?? { mutations: 0, syncs: 0 };
  const journal = new Journal();
  await workload(lun, journal);
  let last = -1;
  await waitFor(() => {
    const now = lun.faults?.counters().mutations ?? 0;
    const idle = now === last;
    last = now;
    return idle;
  }, 2000);
  const end = lun.faults?.counters() ?? { mutations: 0, syncs: 0 };
  await lun.close();
  const syncs = end.syncs - start.syncs;
  return { writes: end.mutations - start.mutations - syncs, syncs, journal };
}

async function pristineLun(t: { testdir(): string }) {
  const { path } = await freshLun(t, TINY);
  // Something to recover at every open: a page set the workload does not touch.
  const lun = await Lun.open(path);
  await lun.append(3, [payload(777, 1), payload(5000, 2)]);
  await lun.close();
  return path;
}

t.test('the workload without faults acknowledges everything and verifies', async (t) => {
  const pristine = await pristineLun(t);
  const { writes, syncs, journal } = await countIo(pristine, `${pristine}.run`);
  t.ok(writes >= 10 && syncs >= 8, `the workload makes ${writes} writes and ${syncs} syncs`);
  t.ok(journal.operations.every((o) => journal.acknowledged(o)), 'every operation succeeds');
  t.same(await verify(`${pristine}.run`, journal), []);
});

/** Unsynced writes are dropped, applied, or torn at sector size when the run ends. */
const crashes: CrashMode[] = ['drop', 'apply', 'tear'];

const sweeps: Array<{ on: FailOn; kinds: FailKind[] }> = [
  { on: 'write', kinds: ['eio', 'enospc', 'short'] },
  { on: 'sync', kinds: ['eio', 'enospc'] },
];

for (const { on, kinds } of sweeps) {
  for (const persistent of [false, true]) {
    const how = persistent ? 'persistent' : 'transient';
    t.test(`a ${how} failure of the k-th ${on} fails stop and loses no acknowledged record`,
      async (t) => {
        const pristine = await pristineLun(t);
        const path = `${pristine}.run`;
        const counted = await countIo(pristine, path);
        const last = on === 'write' ? counted.writes : counted.syncs;
        const deadline = Date.now() + 20_000;
        let runs = 0;
        let troubled = 0;
        for (const kind of kinds) {
          const hits: boolean[] = [];
          for (let k = 1; k <= last + 1 && Date.now() < deadline; k++) {
            let failed = false;
            for (const crash of crashes) {
              const run = await runOnce(pristine, path, { on, kind, persistent, k, crash });
              failed ||= run.failed;
              runs++;
              if (run.problems.length > 0) {
                troubled++;
                t.fail(`${kind} at ${on} ${k}, then ${crash}: ${run.problems.join('; ')}`);
              }
            }
            hits.push(failed);
          }
          t.equal(hits.length, last + 1, `${kind}: every k from 1 to ${last + 1} ran`);
          const reached = hits.filter(Boolean).length;
          t.ok(reached >= last - 2, `${kind}: most k reach an operation (${reached})`);
        }
        t.equal(troubled, 0, `${runs} runs, none with a problem`);
      });
  }
}

t.test('a failed fdatasync acknowledges nothing of the batch it covered', async (t) => {
  const pristine = await pristineLun(t);
  const lun = await Lun.open(pristine, { faults: { seed: 1 }, prefillSegmentsAhead: 0 });
  const [before] = await lun.append(1, payload(100, 1));
  lun.faults?.failAt({ io: 1, on: 'sync' });
  const batch = Array.from({ length: 8 }, (_, i) => lun.append(1 + (i % 2), payload(300, 10 + i)));
  const outcomes = await Promise.allSettled(batch);
  t.ok(outcomes.every((o) => o.status === 'rejected'), 'every append of the batch rejects');
  const codes =
    outcomes.map((o) => (o.status === 'rejected' ? (o.reason as { code: string }).code : 'ok'));
  t.same(codes, Array(8).fill('E_IO'), 'each with E_IO');
  t.equal((await rejectionOf(lun.append(1, payload(5, 5)))).code, 'E_FAILED',
    'the LUN fails stop: no retry on the same descriptor');
  await lun.close();
  const again = await Lun.open(pristine);
  t.teardown(() => again.close());
  t.same(again.recovery.corruptions, []);
  t.same((await readPageSet(again, 1)).map((r) => r.address), [before], 'the earlier record stays');
});

t.test('a failed read rejects E_IO and leaves the LUN writable', async (t) => {
  const pristine = await pristineLun(t);
  const lun = await Lun.open(pristine, { faults: { seed: 1 }, prefillSegmentsAhead: 0 });
  t.teardown(() => lun.close());
  const [address] = await lun.append(1, payload(100, 1));
  lun.faults?.failAt({ io: 1, on: 'read' });
  t.equal((await rejectionOf(lun.read(address as number))).code, 'E_IO');
  t.same(await lun.read(address as number), payload(100, 1), 'the next read succeeds');
  const [next] = await lun.append(1, payload(10, 2));
  t.same(await lun.read(next as number), payload(10, 2), 'appends go on');
});

t.test('an I/O error at the k-th I/O of an open rejects it with a coded error', async (t) => {
  const pristine = await pristineLun(t);
  const path = `${pristine}.run`;
  await copyFile(pristine, path);
  const probe = await Lun.open(path, { faults: { seed: 1 }, prefillSegmentsAhead: 0 });
  const opening = probe.faults?.counters().ios ?? 0;
  await probe.close();
  t.ok(opening >= 4, `an open makes ${opening} I/Os`);
  const expected = [payload(777, 1), payload(5000, 2)];
  for (const kind of ['eio', 'enospc', 'short'] as FailKind[]) {
    for (let k = 1; k <= opening + 1; k++) {
      await copyFile(pristine, path);
      const opened = await Lun.open(path, {
        faults: { seed: k, failAtIo: k, failOn: 'any', failKind: kind, failPersistent: true },
        prefillSegmentsAhead: 0,
      }).catch((error: { code?: string }) => error);
      if (opened instanceof Lun) {
        t.ok(k > opening, `${kind} at I/O ${k}: open succeeds only past its last I/O`);
        await opened.close();
      } else {
        t.ok(CODES.includes(opened.code ?? ''), `${kind} at I/O ${k}: ${opened.code}`);
      }
      const again = await Lun.open(path);
      const listed = await readPageSet(again, 3);
      await again.close();
      t.same(listed.map((r) => r.data), expected, `${kind} at I/O ${k}: the LUN is intact`);
    }
  }
});

t.test('the checker flags acknowledged records lost to a lying fdatasync (negative control)',
  async (t) => {
    const pristine = await pristineLun(t);
    const lun = await Lun.open(pristine, { faults: { seed: 1, lyingSync: true },
      prefillSegmentsAhead: 0 });
    const journal = new Journal();
    await workload(lun, journal);
    t.ok(journal.operations.every((o) => journal.acknowledged(o)), 'the lie acknowledges all');
    lun.faults?.crash('drop');
    await lun.close();
    const problems = await verify(pristine, journal);
    t.ok(problems.some((p) => p.endsWith('is missing')),
      `the checker reports the lost records (${problems.length} problems)`);
  });
