/**
 * The failover benchmark (`npm run bench -- failover`): a queue-sharing group of two queue
 * managers with channel initiators on one LUN, sending over a sender channel to a remote
 * queue manager in another process (its own controller and LUN), measured in one run:
 *   - the disk's fdatasync rate (through the group's LUN);
 *   - channel throughput: a preloaded transmission queue of persistent 1 KiB messages drained
 *     to the remote end, in msgs/s and as a ratio to the fdatasync rate;
 *   - peer recovery, --failovers times (default 50): while a producer keeps the transmission
 *     queue fed, the queue manager that owns the channel is terminated; the time from the
 *     termination to the first batch committed by the peer that took the channel over, then
 *     the failed member is restarted. p50, p90, p99 and max.
 * At the end the remote queue is counted against what was sent: lost and duplicated messages.
 */
import { rm } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';

import { ChannelAdmin } from '../src/channels/admin.js';
import { SiteProcess } from '../src/channels/site-process.js';
import { numberedId } from '../src/channels/site.js';
import { XQ_QUEUE } from '../src/channels/wire.js';
import type { StatusEntry } from '../src/channels/status.js';
import type { QueueManager } from '../src/qm/queue-manager.js';
import { diskLimits, fmt, freshController, percentile, type BenchOptions } from './common.js';

const CHANNEL = 'TO.REMOTE';
const BODY_BYTES = 1024;

export interface FailoverOptions extends BenchOptions {
  failovers: number;
}

export async function failover(options: FailoverOptions): Promise<void> {
  const controller = await freshController(options);
  const remoteLun = options.lun.replace(/(\.lun)?$/, '-remote.lun');
  await rm(remoteLun, { force: true });
  let site: SiteProcess | undefined;
  try {
    const limits = await diskLimits(controller.lun);
    site = await SiteProcess.spawn({ lun: remoteLun, qm: 'REMOTE', queues: ['DEST'],
      channels: [{ name: CHANNEL, type: 'receiver' }] });
    await controller.defineQueue('XMITQ', { defaultPersistent: true, maxDepth: 10_000_000 });
    await controller.defineChannel(CHANNEL, { type: 'sender', transmissionQueue: 'XMITQ',
      connection: `127.0.0.1:${site.port}`, batchSize: 50, shortRetryMs: 50 });
    const members = new Map<string, QueueManager>();
    for (const name of ['QM1', 'QM2']) {
      members.set(name, await controller.startQueueManager({ name, personality: 'mq', channels: true }));
    }
    const admin = new ChannelAdmin(controller);
    const body = Buffer.alloc(BODY_BYTES, 0x62);
    let sent = 0;
    const session = controller.session();
    const put = async (count: number): Promise<void> => {
      for (let i = 0; i < count; i++) {
        await session.put('XMITQ', { body, persistent: true, correlationId: numberedId(sent++),
          properties: { [XQ_QUEUE]: 'DEST' } }, { syncpoint: true });
      }
      await session.commit();
    };

    // Throughput: a preloaded queue drained by one channel instance.
    const preload = Math.max(2000, Math.round(limits.syncRate * options.seconds * 4));
    for (let done = 0; done < preload; done += 500) await put(Math.min(500, preload - done));
    const t0 = performance.now();
    await admin.start(CHANNEL);
    await until(() => controller.queue('XMITQ').depth === 0, 600_000);
    const seconds = (performance.now() - t0) / 1000;
    const rate = preload / seconds;
    console.log(`channel throughput: ${fmt(rate)} msgs/s (${preload} persistent 1 KiB messages in ` +
      `${seconds.toFixed(2)} s, batches of 50) = ${(rate / limits.syncRate).toFixed(2)} × fdatasync rate; ` +
      `${fmt(rate * BODY_BYTES / 2 ** 20)} MiB/s`);

    // Peer recovery, over and over.
    let latest: { owner: string; committed: number; at: number } = { owner: '', committed: 0, at: 0 };
    for (const member of members.values()) {
      // What went wrong, when something does, is printed as it happens.
      member.channelInitiator?.on('ended', (data: Record<string, unknown>) => {
        if (data['kind'] !== 'member') console.log(`  ${member.name}: instance ${String(data['instance'])} ended (${String(data['kind'])} ${String(data['code'] ?? '')} ${String(data['message'] ?? '')})`);
      });
      member.channelInitiator?.on('start-failed', (data: Record<string, unknown>) => {
        console.log(`  ${member.name}: start failed: ${JSON.stringify(data)}`);
      });
      member.channelInitiator?.on('status', (entry: StatusEntry) => {
        if (entry.channel === CHANNEL && entry.status === 'running') {
          latest = { owner: entry.owner, committed: entry.committedSequence, at: performance.now() };
        }
      });
    }
    let producing = true;
    const producer = (async () => {
      while (producing) {
        await put(20);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    })();
    // Whatever ends the measurements, the producer stops before the controller does.
    const stopProducer = async (): Promise<void> => {
      producing = false;
      await producer;
    };
    const recoveries: number[] = [];
    try {
      await measureFailovers();
    } finally {
      await stopProducer();
    }
    async function measureFailovers(): Promise<void> {
    for (let i = 0; i < options.failovers; i++) {
      await until(() => latest.owner !== '' && performance.now() - latest.at < 100, 30_000);
      const victim = latest.owner;
      const before = latest.committed;
      const killedAt = performance.now();
      await members.get(victim)?.terminate();
      await until(() => latest.owner !== victim && latest.committed > before, 30_000);
      const recovery = latest.at - killedAt;
      recoveries.push(recovery);
      process.stdout.write(`failover ${i + 1}/${options.failovers}: ${victim} → ${latest.owner} ` +
        `in ${recovery.toFixed(1)} ms\n`);
      await members.get(victim)?.restart();
    }
    }
    await until(() => controller.queue('XMITQ').depth === 0, 600_000);
    const sorted = Float64Array.from(recoveries).sort();
    console.log(`peer recovery over ${recoveries.length} failovers (termination of the owning ` +
      `queue manager to the first batch committed by its peer): p50 ${fmt(percentile(sorted, 50), 1)} ms, ` +
      `p90 ${fmt(percentile(sorted, 90), 1)} ms, p99 ${fmt(percentile(sorted, 99), 1)} ms, ` +
      `max ${fmt(sorted[sorted.length - 1] ?? 0, 1)} ms (target < 1000 ms)`);
    await session.close();
    for (const member of members.values()) await member.stop();
    const count = await site.command({ op: 'check', queue: 'DEST', expected: sent }) as
      { count: number; lost: number; duplicated: number; reordered: number };
    console.log(`remote end: ${count.count} messages for ${sent} sent: lost ${count.lost}, ` +
      `duplicated ${count.duplicated}, out of order ${count.reordered}`);
  } finally {
    await site?.stop();
    await controller.unmount();
    if (!options.keep) {
      await rm(options.lun, { force: true });
      await rm(remoteLun, { force: true });
    }
  }
}

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`gave up after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
