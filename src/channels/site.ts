/**
 * A site: a controller on a LUN of its own, in a process of its own, with one queue manager
 * and its channel initiator: the remote queue manager outside the group that tests, the
 * failover benchmark and the demo send to. Its argument is a JSON config:
 *   { lun, qm, port?, queues: [name…], channels: [{ name, type, … }] }
 * It prints "ready <port>" (its channel listener) and then answers JSON commands, one a line
 * on stdin, with one JSON line on stdout:
 *   { op: 'put', queue, destination, count, first }  puts `count` persistent messages whose
 *        bodies are "<first>", "<first+1>"… to a transmission queue, for `destination`
 *   { op: 'bodies', queue }        the bodies on a queue, in order, left in place
 *   { op: 'check', queue, expected }  counts a queue of numbered messages: lost, duplicated…
 *   { op: 'start', channel }       starts a sender channel here
 *   { op: 'delay-batches', ms, phase }  inbound batches pause before they commit (phase
 *        'commit') or before they are confirmed ('reply'): in-doubt tests
 *   { op: 'status', channel }      its status entry here
 * On SIGTERM it unmounts and exits 0.
 */
import { createInterface } from 'node:readline';

import { Controller } from '../controller/controller.js';
import { ChannelAdmin } from './admin.js';
import { XQ_QUEUE } from './wire.js';
import type { ChannelAttributes } from './definition.js';

export interface SiteConfig {
  lun: string;
  qm: string;
  port?: number;
  queues: string[];
  channels: Array<Partial<ChannelAttributes> & Pick<ChannelAttributes, 'type'> & { name: string }>;
}

/** A message's number in its correlation id (the last 6 bytes), as `check` reads it. */
export function numberedId(n: number): Buffer {
  const id = Buffer.alloc(24);
  id.writeUIntBE(n, 18, 6);
  return id;
}

/** Runs a site until SIGTERM (then it unmounts and exits 0). */
export async function runSite(config: SiteConfig): Promise<void> {
  const controller = await Controller.mount(config.lun, { create: { sizeBytes: 256 * 1024 * 1024 } });
  for (const queue of config.queues) {
    if (!controller.queueNames().includes(queue)) {
      await controller.defineQueue(queue, { maxDepth: 1_000_000, defaultPersistent: true });
    }
  }
  for (const { name, ...attributes } of config.channels) {
    await controller.defineChannel(name, attributes, { replace: true });
  }
  const qm = await controller.startQueueManager({ name: config.qm, personality: 'mq',
    execArgv: [], channels: { listen: { port: config.port ?? 0 }, execArgv: [] } });
  const admin = new ChannelAdmin(controller);
  const session = controller.session();
  let stopping = false;
  process.on('SIGTERM', () => {
    if (stopping) return;
    stopping = true;
    void controller.unmount().finally(() => process.exit(0));
  });
  const lines = createInterface({ input: process.stdin });
  // Its stdin is its parent's pipe: when the parent is gone, so is the site.
  lines.once('close', () => {
    if (stopping) return;
    stopping = true;
    void controller.unmount().finally(() => process.exit(0));
  });
  lines.on('line', (line) => {
    void answer(JSON.parse(line) as Record<string, unknown>).then(
      (result) => process.stdout.write(`${JSON.stringify({ ok: true, result })}\n`),
      (error: { code?: string; message?: string }) => process.stdout.write(
        `${JSON.stringify({ ok: false, code: error.code, message: error.message })}\n`));
  });
  async function answer(command: Record<string, unknown>): Promise<unknown> {
    switch (command['op']) {
      case 'put': {
        const first = Number(command['first'] ?? 0);
        for (let i = 0; i < Number(command['count']); i++) {
          await session.put(String(command['queue']), { body: String(first + i), persistent: true,
            properties: { [XQ_QUEUE]: String(command['destination']) } }, { syncpoint: true });
        }
        await session.commit();
        return null;
      }
      case 'bodies': {
        const cursor = session.browse(String(command['queue']));
        const bodies: string[] = [];
        for (;;) {
          try {
            bodies.push((await cursor.next()).body.toString());
          } catch {
            return bodies;
          }
        }
      }
      case 'check': return check(String(command['queue']), Number(command['expected']));
      case 'start': return admin.start(String(command['channel']));
      case 'delay-batches':
        qm.channelInitiator?.delayBatches(Number(command['ms']),
          command['phase'] === 'reply' ? 'reply' : 'commit');
        return null;
      case 'status': return (await admin.status(String(command['channel'])))[0];
      default: throw new Error(`unknown op ${String(command['op'])}`);
    }
  }
  /**
   * Checks a queue whose messages carry their number in the last 6 bytes of the correlation
   * id (0 to expected - 1, in order): how many are there, lost, duplicated and out of order.
   */
  async function check(queue: string, expected: number): Promise<Record<string, number>> {
    const cursor = session.browse(queue);
    const seen = new Uint8Array(expected);
    let count = 0;
    let duplicated = 0;
    let reordered = 0;
    let unexpected = 0;
    let last = -1;
    for (;;) {
      let message;
      try {
        message = await cursor.next();
      } catch {
        break;
      }
      count++;
      const n = message.correlationId.readUIntBE(18, 6);
      if (n >= expected) {
        unexpected++;
        continue;
      }
      if (seen[n] === 1) duplicated++;
      seen[n] = 1;
      if (n < last) reordered++;
      last = n;
    }
    const lost = seen.reduce((sum, v) => sum + (v === 0 ? 1 : 0), 0);
    return { count, lost, duplicated, reordered, unexpected };
  }
  process.stdout.write(`ready ${qm.channelInitiator?.address?.port ?? 0}\n`);
}
