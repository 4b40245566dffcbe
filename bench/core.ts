/**
 * The storage core benchmark (`npm run bench -- core`): see bench/index.ts for what it measures.
 */
import { rm, writeFile } from 'node:fs/promises';

import { Lun, type Address } from '../src/index.js';
import { Recorder, fmt, freshLunPath, percentile, type BenchOptions } from './common.js';

interface Scenario {
  name: string;
  appenders: number;
  recordBytes: number;
}

interface Result {
  records: number;
  seconds: number;
  latenciesUs: Float64Array;
  flushes: number;
  breakdown: string;
}

/** Releases every address in batches, so the scenario after this one starts on reused space. */
async function releaseAll(lun: Lun, addresses: Address[]): Promise<void> {
  const batch = 4096;
  const work: Array<Promise<void>> = [];
  for (let i = 0; i < addresses.length; i += batch) {
    work.push(lun.release(addresses.slice(i, i + batch)));
    if (work.length >= 16) await Promise.all(work.splice(0));
  }
  await Promise.all(work);
}

async function run(lun: Lun, scenario: Scenario, seconds: number, bytesBudget: number): Promise<Result> {
  const record = Buffer.alloc(scenario.recordBytes, 0x61);
  const deadline = performance.now() + seconds * 1000;
  // Growable typed arrays: a plain array of a million numbers costs the run its GC pauses.
  const latencies = new Recorder();
  const addresses = new Recorder();
  const startStats = lun.stats();
  let bytes = 0;
  const started = performance.now();
  const appender = async (pageSet: number) => {
    while (performance.now() < deadline && bytes < bytesBudget) {
      const t0 = performance.now();
      const [address] = await lun.append(pageSet, record);
      latencies.push((performance.now() - t0) * 1000);
      addresses.push(address as Address);
      bytes += scenario.recordBytes;
    }
  };
  await Promise.all(Array.from({ length: scenario.appenders }, () => appender(1)));
  const elapsed = (performance.now() - started) / 1000;
  const endStats = lun.stats();
  const flushes = endStats.flushes - startStats.flushes;
  const perFlushUs = (key: 'planNs' | 'writeNs' | 'syncNs' | 'applyNs' | 'gatherNs') =>
    (endStats[key] - startStats[key]) / 1000 / Math.max(1, flushes);
  const breakdown = `writer per flush: plan ${perFlushUs('planNs').toFixed(0)} µs, write ` +
    `${perFlushUs('writeNs').toFixed(0)} µs, fdatasync ${perFlushUs('syncNs').toFixed(0)} µs, ` +
    `apply ${perFlushUs('applyNs').toFixed(0)} µs, gather ${perFlushUs('gatherNs').toFixed(0)} µs; ` +
    `JavaScript round trip ${((endStats.jsNs - startStats.jsNs) / 1000 /
      Math.max(1, endStats.jsRounds - startStats.jsRounds)).toFixed(0)} µs`;
  await releaseAll(lun, Array.from(addresses.values()));
  const sorted = latencies.values().sort();
  return { records: latencies.length, seconds: elapsed, latenciesUs: sorted, flushes, breakdown };
}

export interface CoreOptions extends BenchOptions {
  spinUs: number | undefined;
  gatherUs: number | undefined;
}

export async function core(options: CoreOptions) {
  await freshLunPath(options.lun);
  const sizeBytes = options.sizeGiB * 1024 ** 3;
  const formatStart = performance.now();
  await Lun.format(options.lun, { sizeBytes, prefill: true, casSlots: 16, label: 'bench' });
  const formatSeconds = (performance.now() - formatStart) / 1000;
  const lun = await Lun.open(options.lun, {
    direct: options.direct,
    ...(options.spinUs === undefined ? {} : { spinUs: options.spinUs }),
    ...(options.gatherUs === undefined ? {} : { gatherUs: options.gatherUs }),
  });
  try {
    console.log(`sanmq bench core: lun=${options.lun} size=${options.sizeGiB} GiB ` +
      `segment=${lun.geometry.segmentBytes} block=${lun.geometry.blockBytes} ` +
      `direct=${options.direct} seconds=${options.seconds} (format+prefill ${fmt(formatSeconds, 1)} s)`);
    const disk = await lun.measureDisk({ durationMs: 2000, sparse: !options.direct });
    const syncRate = disk.fdatasyncPerSecond;
    const seqRate = disk.sequentialBytesPerSecond;
    console.log(`disk: 4 KiB write+fdatasync ${fmt(syncRate)} ops/s (p50 ${fmt(disk.fdatasyncP50Us)} µs, ` +
      `p99 ${fmt(disk.fdatasyncP99Us)} µs); 1 MiB write+fdatasync ${fmt(seqRate / 2 ** 20)} MiB/s` +
      (disk.firstWritePerSecond === undefined ? '' :
        `; first writes into holes ${fmt(disk.firstWritePerSecond)} ops/s`));
    const budget = Math.floor(lun.space().freeBytes * 0.7);
    const scenarios: Scenario[] = [
      { name: '1 KiB, 1 appender', appenders: 1, recordBytes: 1024 },
      { name: '1 KiB, 64 appenders', appenders: 64, recordBytes: 1024 },
      { name: '64 KiB, 16 appenders', appenders: 16, recordBytes: 64 * 1024 },
    ];
    for (const scenario of scenarios) {
      if (options.only !== undefined && !scenario.name.includes(options.only)) continue;
      const r = await run(lun, scenario, options.seconds, budget);
      const rate = r.records / r.seconds;
      const mib = (rate * scenario.recordBytes) / 2 ** 20;
      const l = r.latenciesUs;
      const latency = `p50 ${fmt(percentile(l, 50))} µs, p99 ${fmt(percentile(l, 99))} µs, ` +
        `p99.9 ${fmt(percentile(l, 99.9))} µs, max ${fmt(percentile(l, 100))} µs`;
      const perFlush = r.records / Math.max(1, r.flushes);
      const ratio = scenario.recordBytes >= 65536
        ? `${fmt(mib * 2 ** 20 / seqRate, 2)} × the sequential limit`
        : `${fmt(rate / syncRate, 2)} × the fdatasync rate` +
          (scenario.appenders > 1 ? ` (${fmt(rate / (syncRate * scenario.appenders), 2)} × ${scenario.appenders} × it)` : '');
      console.log(`${scenario.name}: ${fmt(rate)} records/s, ${fmt(mib, 1)} MiB/s = ${ratio}; ` +
        `${latency}; ${fmt(perFlush, 1)} records per flush; ${r.breakdown}`);
    }
    if (options.only === undefined || 'recovery'.includes(options.only)) await recovery(lun, options);
  } finally {
    if (!lun.closed) await lun.close();
    if (!options.keep) await rm(options.lun, { force: true });
  }
}

/** Drops the page cache (root only) so that a scan reads the disk; says whether it could. */
export async function dropCaches(): Promise<boolean> {
  try {
    await writeFile('/proc/sys/vm/drop_caches', '3\n');
    return true;
  } catch {
    return false;
  }
}

/**
 * Recovery scan rate: fills about a gigabyte of the log with 64 KiB records, closes the LUN,
 * drops the page cache when allowed, reopens (the open scans every used segment and verifies
 * every checksum) and reports the scan's rate; then releases the records again.
 */
async function recovery(lun: Lun, options: CoreOptions): Promise<void> {
  const record = Buffer.alloc(64 * 1024, 0x72);
  const target = Math.min(1024 ** 3, Math.floor(lun.space().freeBytes * 0.5));
  let written = 0;
  while (written < target) {
    await Promise.all(Array.from({ length: 16 }, () => lun.append(2, record)));
    written += 16 * record.length;
  }
  await lun.close();
  const cold = await dropCaches();
  const started = performance.now();
  const reopened = await Lun.open(options.lun, { direct: options.direct });
  const openMs = performance.now() - started;
  const r = reopened.recovery;
  console.log(`recovery: open of ${fmt(r.scannedBytes / 2 ** 20)} MiB of log (${fmt(r.liveRecords)} ` +
    `live records) in ${fmt(openMs)} ms, scan ${fmt(r.scanMs)} ms = ` +
    `${fmt(r.scannedBytes / (r.scanMs / 1000) / 1e9, 2)} GB/s (${cold ? 'cold' : 'warm'} page cache)`);
  const addresses: Address[] = [];
  for await (const entry of reopened.records(2)) addresses.push(entry.address);
  await releaseAll(reopened, addresses);
  await reopened.close();
}
