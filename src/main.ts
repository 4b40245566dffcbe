/**
 * `npm start`: opens the embedded default LUN under ./sanmq-data/ (formatting it on first
 * use), runs a short self-check of the storage core, prints what the LUN holds, then mounts
 * the controller on it: the mount report, a unit of work through a self-check queue, two
 * queue managers of different personalities in worker threads passing a message between
 * them, and the queues with their depths. (The `sanmq mount` command will take this entry
 * point over.)
 */
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';

import { Controller } from './controller/controller.js';
import { isSanmqError } from './errors.js';
import { exists } from './files.js';
import type { JmsConnection, MqConnection } from './qm/client.js';
import { Lun, crc32c, crc32cImplementation } from './storage/lun.js';

const DATA_DIRECTORY = resolve('sanmq-data');
const DEFAULT_LUN = join(DATA_DIRECTORY, 'default.lun');
const DEFAULT_SIZE_BYTES = 64 * 1024 * 1024;
/** The self-check writes to the last page set, which no other layer uses. */
const DIAGNOSTIC_PAGE_SET = 1023;

function mib(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

async function selfCheck(lun: Lun): Promise<string[]> {
  const lines: string[] = [];
  const check = Buffer.from('123456789');
  if (crc32c(check) !== 0xe3069283) throw new Error('CRC32C self-test failed');
  lines.push(`CRC32C (${crc32cImplementation}) matches the RFC 3720 check value`);
  const payload = Buffer.from(`sanmq self-check ${new Date().toISOString()}`);
  const [address] = await lun.append(DIAGNOSTIC_PAGE_SET, [payload]);
  if (address === undefined) throw new Error('append returned no address');
  const back = await lun.read(address);
  if (!back.equals(payload)) throw new Error('the self-check record read back differently');
  await lun.release([address]);
  lines.push(`durable append, verified read and release at address ${address}`);
  const slot = await lun.slots.read(0);
  lines.push(`slot table readable (${lun.slots.slotCount} slots of ${slot.length} bytes)`);
  return lines;
}

async function main(): Promise<void> {
  await mkdir(DATA_DIRECTORY, { recursive: true });
  if (!(await exists(DEFAULT_LUN))) {
    const geometry = await Lun.format(DEFAULT_LUN, { sizeBytes: DEFAULT_SIZE_BYTES, label: 'default' });
    console.log(`formatted ${DEFAULT_LUN} (${mib(geometry.sizeBytes)}, uuid ${geometry.uuid})`);
  }
  const lun = await Lun.open(DEFAULT_LUN);
  try {
    const g = lun.geometry;
    const r = lun.recovery;
    console.log(`LUN ${DEFAULT_LUN}`);
    console.log(`  uuid ${g.uuid}  label "${g.label}"  created ${new Date(g.createdAtMs).toISOString()}`);
    console.log(`  ${mib(g.sizeBytes)} in ${g.segmentCount} segments of ${mib(g.segmentBytes)}, ` +
      `blocks of ${g.blockBytes} bytes, ${g.casSlots} CAS slots`);
    console.log(`  recovery: scanned ${mib(r.scannedBytes)} in ${r.scanMs.toFixed(1)} ms, ` +
      `${r.chunks} chunks, ${r.liveRecords} live records, ${r.tornTails.length} torn tails, ` +
      `${r.corruptions.length} corruptions`);
    for (const line of await selfCheck(lun)) console.log(`  self-check: ${line}`);
    const space = lun.space();
    console.log(`  space: ${space.usedSegments} segments used, ${space.freeSegments} free ` +
      `(${space.prefilledFreeSegments} prefilled), ${mib(space.liveBytes)} live in ` +
      `${space.liveRecords} records`);
    const pageSets = new Map<number, { records: number; bytes: number; segments: number }>();
    for (const segment of space.segments) {
      const entry = pageSets.get(segment.pageSet) ?? { records: 0, bytes: 0, segments: 0 };
      entry.records += segment.liveRecords;
      entry.bytes += segment.liveBytes;
      entry.segments += 1;
      pageSets.set(segment.pageSet, entry);
    }
    for (const [pageSet, entry] of [...pageSets].sort((a, b) => a[0] - b[0])) {
      console.log(`  page set ${pageSet}: ${entry.records} live records, ${mib(entry.bytes)}, ` +
        `${entry.segments} segments`);
    }
  } finally {
    await lun.close();
  }
  await controllerCheck();
}

const SELF_CHECK_QUEUE = 'SANMQ.SELFCHECK';

/** Mounts the controller, runs one unit of work through it, and lists the queues. */
async function controllerCheck(): Promise<void> {
  const controller = await Controller.mount(DEFAULT_LUN);
  try {
    const r = controller.mountReport;
    console.log(`controller mounted in ${r.durationMs.toFixed(1)} ms: ${r.queues} queues, ` +
      `${r.messages} committed messages, ${r.inDoubtUnits} units in doubt, ` +
      `${r.rolledBackUnits} rolled back`);
    if (!controller.queueNames().includes(SELF_CHECK_QUEUE)) {
      await controller.defineQueue(SELF_CHECK_QUEUE, { defaultPersistent: true,
        description: 'npm start self-check' });
    }
    const session = controller.session();
    const body = `controller self-check ${new Date().toISOString()}`;
    await session.put(SELF_CHECK_QUEUE, { body }, { syncpoint: true });
    await session.commit();
    const message = await session.get(SELF_CHECK_QUEUE, { syncpoint: true });
    await session.commit();
    if (message.body.toString() !== body) throw new Error('the self-check message came back different');
    await session.close();
    console.log('  self-check: persistent put and get, each committed durably');
    await queueManagerCheck(controller);
    for (const queue of controller.queueList()) {
      console.log(`  queue ${queue.name}: depth ${queue.depth} of ${queue.attributes.maxDepth}`);
    }
  } finally {
    await controller.unmount();
  }
}

/**
 * An EBCDIC `mq` queue manager and a `jms` one, each in its worker thread: a string put by
 * the first (in CCSID 37) is received as a JMS text message by the second.
 */
async function queueManagerCheck(controller: Controller): Promise<void> {
  const qmz = await controller.startQueueManager({ name: 'QMZ', personality: 'mq', ccsid: 37,
    encoding: 'big' });
  const qmj = await controller.startQueueManager({ name: 'QMJ', personality: 'jms' });
  try {
    const sender = await qmz.connect() as MqConnection;
    const receiver = await qmj.connect() as JmsConnection;
    const text = `queue manager self-check ${new Date().toISOString()}`;
    const put = await sender.put(SELF_CHECK_QUEUE, { body: text, properties: { check: true } },
      { syncpoint: true });
    await sender.commit();
    const got = await receiver.get(SELF_CHECK_QUEUE, { selector: 'check = TRUE', waitMs: 5_000 });
    if (got.type !== 'text' || got.text !== text) throw new Error('the message crossed badly');
    console.log(`  queue managers: QMZ (mq, CCSID ${sender.ccsid}, thread ${qmz.threadId}) put ` +
      `${put.msgId.toString('hex').slice(0, 16)}…, QMJ (jms, thread ${qmj.threadId}) received ` +
      'it as a JMS TextMessage');
    sender.close();
    receiver.close();
  } finally {
    await Promise.all([qmz.stop(), qmj.stop()]);
  }
}

main().catch((error: unknown) => {
  if (isSanmqError(error)) {
    console.error(`sanmq: ${error.code}: ${error.message}`);
  } else {
    console.error(error);
  }
  process.exitCode = 1;
});
