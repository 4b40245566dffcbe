/**
 * The addon is context-aware: it loads in several worker threads at once, a LUN can be opened
 * and used inside a worker, and a worker that ends or is terminated with its LUN open neither
 * crashes the process nor leaves the LUN locked: the environment's cleanup hook stops the
 * writer. Workers run test/fixtures/lun-worker.ts.
 */
import { readdirSync, readlinkSync } from 'node:fs';
import type { Worker } from 'node:worker_threads';

import t, { type Test } from 'tap';

import { Lun, crc32cImplementation } from '../src/index.js';
import { freshLun, spawnFixture, startWorker } from './helpers/lun.js';

interface Report {
  threadId: number;
  crc?: number;
  implementation?: string;
  sameCodes?: boolean;
  addresses?: number[];
  readBack?: number;
  swapped?: boolean;
  opened?: boolean;
}

/** Starts the fixture; terminates it when the test ends if it is still running. */
function start(t: Test, data: object): Worker {
  const worker = startWorker('lun-worker.ts', data);
  let running = true;
  worker.once('exit', () => (running = false));
  t.teardown(async () => {
    if (running) await worker.terminate();
  });
  return worker;
}

function firstMessage(worker: Worker, timeoutMs = 30_000): Promise<Report> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no message within ${timeoutMs} ms`)), timeoutMs);
    worker.once('message', (message: Report) => {
      clearTimeout(timer);
      resolve(message);
    });
    worker.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    worker.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the worker exited with ${code} before reporting`));
    });
  });
}

function exitCode(worker: Worker, timeoutMs = 30_000): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no exit within ${timeoutMs} ms`)), timeoutMs);
    worker.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

/** Descriptors of this process that refer to `path`. */
function descriptorsOf(path: string): number {
  let count = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) count++;
    } catch {
      // The descriptor closed while we listed them (readdir's own, for one).
    }
  }
  return count;
}

t.test('the addon loads in 3 worker threads at once and computes CRC32C in each', async (t) => {
  const workers = [0, 1, 2].map(() => start(t, { task: 'load' }));
  const exits = workers.map((worker) => exitCode(worker));
  const reports = await Promise.all(workers.map((worker) => firstMessage(worker)));
  t.same(await Promise.all(exits), [0, 0, 0], 'every worker exits cleanly');
  t.equal(new Set(reports.map((r) => r.threadId)).size, 3, 'three different threads');
  for (const report of reports) {
    t.equal(report.crc, 0xe3069283, `thread ${report.threadId} computes the check value`);
    t.equal(report.implementation, crc32cImplementation);
    t.equal(report.sameCodes, true, 'the worker reads the same error codes');
  }
});

t.test('a LUN opened in a worker appends, reads back, swaps a slot and closes', async (t) => {
  const { path, geometry } = await freshLun(t);
  const worker = start(t, { task: 'roundTrip', path, records: 20 });
  const exit = exitCode(worker);
  const report = await firstMessage(worker);
  t.equal(await exit, 0);
  t.equal(report.addresses?.length, 20);
  t.equal(report.readBack, 20, 'the worker read back every record');
  t.equal(report.swapped, true);
  const lun = await Lun.open(path);
  t.teardown(() => lun.close());
  const seen: string[] = [];
  for await (const record of lun.records(1)) seen.push(record.data.toString());
  t.same(seen, Array.from({ length: 20 }, (_, i) => `worker ${report.threadId} record ${i}`));
  t.same(await lun.slots.read(1), Buffer.alloc(geometry.casSlotBytes, report.threadId & 0xff));
});

t.test('two workers use two LUNs at the same time', async (t) => {
  const luns = [await freshLun(t), await freshLun(t)];
  const workers = luns.map(({ path }) => start(t, { task: 'roundTrip', path, records: 50 }));
  const exits = workers.map((worker) => exitCode(worker));
  const reports = await Promise.all(workers.map((worker) => firstMessage(worker)));
  t.same(await Promise.all(exits), [0, 0]);
  t.same(reports.map((r) => r.readBack), [50, 50]);
});

t.test('a worker that ends with its LUN open exits cleanly and the LUN reopens', async (t) => {
  const { path } = await freshLun(t);
  const worker = start(t, { task: 'leaveOpen', path, records: 3 });
  const exit = exitCode(worker);
  const report = await firstMessage(worker);
  t.equal(await exit, 0, 'the worker ended on its own');
  const lun = await Lun.open(path);
  t.teardown(() => lun.close());
  t.equal(lun.recovery.liveRecords, 3, 'its durable appends are there');
  for (const [i, address] of (report.addresses ?? []).entries()) {
    t.same(await lun.read(address), Buffer.from(`worker ${report.threadId} record ${i}`));
  }
});

t.test('a worker that ends with its LUN open leaves no descriptor of the LUN behind',
  async (t) => {
    const { path } = await freshLun(t);
    const worker = start(t, { task: 'leaveOpen', path, records: 1 });
    const exit = exitCode(worker);
    await firstMessage(worker);
    t.equal(await exit, 0);
    t.equal(descriptorsOf(path), 0, 'no descriptor of the LUN is left open');
  });

t.test('workers terminated while appending do not crash the process and the LUN reopens',
  async (t) => {
    // In a child process: if the addon aborts while a worker's environment is torn down,
    // the child dies of SIGABRT and this test reports it instead of dying with it.
    const { path } = await freshLun(t);
    const child = spawnFixture('worker-terminate.ts', [path, '3']);
    t.teardown(() => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        process.kill(child.pid, 'SIGKILL');
      }
    });
    let out = '';
    let err = '';
    child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const status = await new Promise<{ code: number | null; signal: string | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
    });
    t.same(status, { code: 0, signal: null }, `the process survives (stderr: ${err.trim()})`);
    const rounds = out.split('\n').filter(Boolean).map((line) => JSON.parse(line) as {
      exitCode: number; liveRecords: number; corruptions: unknown[];
    });
    t.equal(rounds.length, 3, 'every round reopened the LUN');
    let previous = 0;
    for (const round of rounds) {
      t.equal(round.exitCode, 1, 'the worker was terminated');
      t.same(round.corruptions, [], 'no corruption');
      t.ok(round.liveRecords > previous, 'each round added durable records');
      previous = round.liveRecords;
    }
  });

t.test('a LUN of the main thread keeps working when a worker exits with its own LUN open',
  async (t) => {
    const mine = await freshLun(t);
    const theirs = await freshLun(t);
    const lun = await Lun.open(mine.path);
    t.teardown(() => lun.close());
    const worker = start(t, { task: 'leaveOpen', path: theirs.path, records: 2 });
    const exit = exitCode(worker);
    await firstMessage(worker);
    t.equal(await exit, 0);
    const appends = await Promise.all(
      Array.from({ length: 16 }, (_, i) => lun.append(1, Buffer.from(`main ${i}`))));
    t.equal(appends.length, 16, 'appends on the main thread still complete');
    t.same(await lun.read(appends[15]?.[0] ?? -1), Buffer.from('main 15'));
  });
