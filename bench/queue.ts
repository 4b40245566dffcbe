/**
 * The queue benchmark (`npm run bench -- queue`): the controller on one LUN, in one run. First
 * the disk's own limits through the LUN (4 KiB write + fdatasync; 1 MiB write + fdatasync);
 * then persistent 1 KiB put+commit and get+commit with 1 and 64 connections, and 64 KiB
 * put+commit with 16, each with its ratio to the matching disk limit and latency percentiles;
 * then a deep queue: a million 1 KiB persistent messages, the index's heap bytes per message
 * (typed arrays, and the whole heap's growth after a GC when run with --expose-gc), and the
 * time to mount the LUN holding them.
 */
import { rm } from 'node:fs/promises';

import { Controller, type Session } from '../src/index.js';
import {
  closedLoop,
  diskLimits,
  fmt,
  freshController,
  percentile,
  type BenchOptions,
  type Limits,
  type LoopResult,
} from './common.js';

export interface QueueOptions extends BenchOptions {
  deepMessages: number;
}

interface Scenario {
  name: string;
  kind: 'put' | 'get';
  connections: number;
  bytes: number;
}

/** Runs one scenario: each connection loops put+commit (or get+commit) until time is up. */
async function run(controller: Controller, scenario: Scenario, seconds: number,
  messagesMax: number): Promise<LoopResult> {
  const body = Buffer.alloc(scenario.bytes, 0x61);
  const sessions: Session[] = Array.from({ length: scenario.connections }, () => controller.session());
  const result = await closedLoop(scenario.connections, seconds, messagesMax, async (index) => {
    const session = sessions[index] as Session;
    if (scenario.kind === 'put') {
      await session.put('BENCH', { body }, { syncpoint: true });
    } else {
      await session.get('BENCH', { syncpoint: true });
    }
    await session.commit();
  });
  await Promise.all(sessions.map((session) => session.close()));
  return result;
}

function report(scenario: Scenario, r: LoopResult, limits: Limits): void {
  const rate = r.count / r.seconds;
  const mib = (rate * scenario.bytes) / 2 ** 20;
  const l = r.latencies;
  const ratio = scenario.bytes >= 65536
    ? `${fmt((mib * 2 ** 20) / limits.seqRate, 2)} × the sequential limit`
    : `${fmt(rate / limits.syncRate, 2)} × the fdatasync rate`;
  console.log(`${scenario.name}: ${fmt(rate)} msgs/s, ${fmt(mib, 1)} MiB/s = ${ratio}; ` +
    `p50 ${fmt(percentile(l, 50))} µs, p99 ${fmt(percentile(l, 99))} µs, ` +
    `p99.9 ${fmt(percentile(l, 99.9))} µs, max ${fmt(percentile(l, 100))} µs`);
}

/** Empties the benchmark queue between scenarios, a unit of work at a time. */
async function drain(controller: Controller): Promise<void> {
  const session = controller.session();
  for (let depth = controller.queue('BENCH').depth; depth > 0; depth = controller.queue('BENCH').depth) {
    for (let i = 0; i < Math.min(depth, 1000); i++) await session.get('BENCH', { syncpoint: true });
    await session.commit();
  }
  await session.close();
}

function heapNow(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc !== undefined) {
    gc();
    gc();
  }
  const usage = process.memoryUsage();
  return usage.heapUsed + usage.arrayBuffers;
}

/** A deep queue: heap per message while it is queued, and the mount time of the LUN. */
async function deep(controller: Controller, options: QueueOptions, limits: Limits):
Promise<Controller> {
  const body = Buffer.alloc(1024, 0x64);
  const count = options.deepMessages;
  await controller.alterQueue('BENCH', { maxDepth: Math.max(count, 5000) });
  const heapBefore = heapNow();
  const indexBefore = controller.stats().indexBytes;
  const started = performance.now();
  const unitMessages = 1000;
  const writers = 8;
  let next = 0;
  await Promise.all(Array.from({ length: writers }, async () => {
    const session = controller.session();
    while (next < count) {
      const n = Math.min(unitMessages, count - next);
      next += n;
      for (let i = 0; i < n; i++) await session.put('BENCH', { body }, { syncpoint: true });
      await session.commit();
    }
    await session.close();
  }));
  const fillSeconds = (performance.now() - started) / 1000;
  const stats = controller.stats();
  const heapAfter = heapNow();
  const gcNote = (globalThis as { gc?: () => void }).gc === undefined ? ' (no --expose-gc: noisy)' : '';
  console.log(`deep queue: ${fmt(count)} messages put in ${fmt(fillSeconds, 1)} s ` +
    `(${fmt(count / fillSeconds)} msgs/s = ${fmt(count / fillSeconds / limits.syncRate, 2)} × fdatasync rate); ` +
    `index ${fmt((stats.indexBytes - indexBefore) / count, 1)} bytes/message ` +
    `(${fmt(stats.indexBytes / stats.messages, 1)} with its spare capacity); heap growth ` +
    `${fmt((heapAfter - heapBefore - stats.store.cacheBytes) / count, 1)} bytes/message beside ` +
    `${fmt(stats.store.cacheBytes / 2 ** 20, 1)} MiB of record cache${gcNote}`);
  await controller.unmount();
  const mountStart = performance.now();
  const remounted = await Controller.mount(options.lun, { lun: { direct: options.direct } });
  const mountMs = performance.now() - mountStart;
  const r = remounted.mountReport;
  console.log(`mount of ${fmt(r.messages)} messages: ${fmt(mountMs)} ms (storage scan ` +
    `${fmt(r.lun.scanMs)} ms of ${fmt(r.lun.scannedBytes / 2 ** 20)} MiB)`);
  return remounted;
}

export async function queue(options: QueueOptions): Promise<void> {
  let controller = await freshController(options);
  try {
    console.log(`sanmq bench queue: lun=${options.lun} size=${options.sizeGiB} GiB ` +
      `direct=${options.direct} seconds=${options.seconds}`);
    const limits = await diskLimits(controller.lun);
    await controller.defineQueue('BENCH', { defaultPersistent: true, maxDepth: 999_999_999 });
    const budget = Math.floor(controller.lun.space().freeBytes * 0.3);
    const scenarios: Scenario[] = [
      { name: '1 KiB put+commit, 1 connection', kind: 'put', connections: 1, bytes: 1024 },
      { name: '1 KiB get+commit, 1 connection', kind: 'get', connections: 1, bytes: 1024 },
      { name: '1 KiB put+commit, 64 connections', kind: 'put', connections: 64, bytes: 1024 },
      { name: '1 KiB get+commit, 64 connections', kind: 'get', connections: 64, bytes: 1024 },
      { name: '64 KiB put+commit, 16 connections', kind: 'put', connections: 16, bytes: 65536 },
    ];
    let queued = 0;
    for (const scenario of scenarios) {
      if (options.only !== undefined && !scenario.name.includes(options.only)) continue;
      // A get scenario reads what the put scenario before it left, and only that.
      const max = scenario.kind === 'get' ? queued : Math.floor(budget / scenario.bytes);
      if (scenario.kind === 'put') await drain(controller);
      const r = await run(controller, scenario, options.seconds, max);
      queued = scenario.kind === 'put' ? r.count : 0;
      report(scenario, r, limits);
    }
    await drain(controller);
    if (options.only === undefined || 'deep'.includes(options.only)) {
      controller = await deep(controller, options, limits);
    }
  } finally {
    if (controller.mounted) await controller.unmount();
    if (!options.keep) await rm(options.lun, { force: true });
  }
}
