/**
 * `npm run demo`: peer recovery of a shared channel, live. A queue-sharing group of three
 * queue managers (mq, jms, mq) with channel initiators on ./sanmq-data/demo-group.lun sends
 * numbered persistent messages over the sender channel TO.REMOTE to a remote queue manager in
 * another process (its own controller on ./sanmq-data/demo-remote.lun). Mid-transfer the
 * queue manager that runs the channel is killed; a peer wins the channel by compare-and-swap
 * on its status entry and resumes it from the sync data. The remote end is counted at the
 * end: every message once, in order.
 *
 * Options: --messages N (default 5000), --dir PATH (default ./sanmq-data).
 */
import { mkdir, rm } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

import { Controller } from '../controller/controller.js';
import type { QueueManager } from '../qm/queue-manager.js';
import { ChannelAdmin } from './admin.js';
import { SiteProcess } from './site-process.js';
import { numberedId } from './site.js';
import { XQ_QUEUE } from './wire.js';

const CHANNEL = 'TO.REMOTE';

function line(text: string): void {
  process.stdout.write(`${new Date().toISOString().slice(11, 23)}  ${text}\n`);
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: {
    messages: { type: 'string', default: '5000' },
    dir: { type: 'string', default: 'sanmq-data' },
  } });
  const total = Number(values.messages);
  if (!Number.isInteger(total) || total < 100 || total > 1_000_000) {
    throw new Error('--messages must be an integer from 100 to 1000000');
  }
  const dir = resolve(values.dir);
  await mkdir(dir, { recursive: true });
  const groupLun = join(dir, 'demo-group.lun');
  const remoteLun = join(dir, 'demo-remote.lun');
  await rm(groupLun, { force: true });
  await rm(remoteLun, { force: true });

  line(`starting the remote queue manager REMOTE (its own process and LUN: ${remoteLun})`);
  const site = await SiteProcess.spawn({ lun: remoteLun, qm: 'REMOTE', queues: ['DEST'],
    channels: [{ name: CHANNEL, type: 'receiver' }] });
  const controller = await Controller.mount(groupLun, { create: { sizeBytes: 256 * 2 ** 20 } });
  try {
    await controller.defineQueue('XMITQ', { defaultPersistent: true, maxDepth: 2_000_000 });
    await controller.defineChannel(CHANNEL, { type: 'sender', transmissionQueue: 'XMITQ',
      connection: `127.0.0.1:${site.port}`, batchSize: 50, shortRetryMs: 100 });
    const members = new Map<string, QueueManager>();
    for (const [name, personality] of [['QM1', 'mq'], ['QM2', 'jms'], ['QM3', 'mq']] as const) {
      members.set(name, await controller.startQueueManager({ name, personality, channels: true }));
    }
    line(`queue-sharing group on ${groupLun}: QM1 (mq), QM2 (jms), QM3 (mq), each with a channel initiator`);
    const session = controller.session();
    for (let n = 0; n < total; n += 500) {
      for (let i = n; i < Math.min(total, n + 500); i++) {
        await session.put('XMITQ', { body: `message ${i}`, persistent: true, correlationId: numberedId(i),
          properties: { [XQ_QUEUE]: 'DEST' } }, { syncpoint: true });
      }
      await session.commit();
    }
    await session.close();
    line(`${total} persistent messages on the shared transmission queue XMITQ`);
    const admin = new ChannelAdmin(controller);
    line(`START CHANNEL(${CHANNEL}): workload balancing picks ${await admin.start(CHANNEL)}`);

    let killed: { victim: string; at: number } | undefined;
    let recoveredIn: number | undefined;
    for (let tick = 0; tick < 6000; tick++) {
      const [row] = await admin.status(CHANNEL);
      const entry = row?.entry;
      const depth = controller.queue('XMITQ').depth;
      line(`CHSTATUS ${CHANNEL}: ${(row?.status ?? '?').padEnd(10)} owner ${(entry?.owner || '-').padEnd(4)} ` +
        `instance ${entry?.instance ?? 0}  batch ${entry?.committedSequence ?? 0}  ` +
        `left on XMITQ ${depth}`);
      if (killed === undefined && entry?.status === 'running' && depth < total * 0.6) {
        const victim = entry.owner;
        killed = { victim, at: performance.now() };
        line(`*** killing ${victim} (its queue manager thread is terminated mid-transfer) ***`);
        await members.get(victim)?.terminate();
      }
      if (killed !== undefined && recoveredIn === undefined && entry?.status === 'running' &&
          entry.owner !== killed.victim) {
        recoveredIn = performance.now() - killed.at;
        line(`*** ${entry.owner} won the channel (compare-and-swap on its status entry) and resumed it ` +
          `${recoveredIn.toFixed(0)} ms after ${killed.victim} died ***`);
      }
      if (depth === 0 && recoveredIn !== undefined) break;
      await new Promise((resolvePause) => setTimeout(resolvePause, 100));
    }
    const check = await site.command({ op: 'check', queue: 'DEST', expected: total }) as
      { count: number; lost: number; duplicated: number; reordered: number };
    line(`REMOTE/DEST holds ${check.count} of ${total} messages: lost ${check.lost}, ` +
      `duplicated ${check.duplicated}, out of order ${check.reordered}`);
    if (check.count !== total || check.lost + check.duplicated + check.reordered !== 0) process.exitCode = 1;
  } finally {
    await controller.unmount();
    await site.stop();
  }
}

main().catch((error: unknown) => {
  const coded = error as { code?: string; message?: string };
  process.stderr.write(`demo: ${coded.code ?? ''} ${coded.message ?? String(error)}\n`);
  process.exitCode = 1;
});
