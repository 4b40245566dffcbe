/**
 * `sanmq bench`, modelled on Artemis `perf client` and `nats bench`: a header line echoing
 * every parameter, the disk's own limits measured through the LUN in the same run, a line per
 * second, and a SUMMARY with msgs/s, MB/s and HDR latency percentiles (p50, p90, p99, p99.9,
 * max) beside the ratios to the disk's limits. Scenarios: put, get (of a preloaded queue) and
 * put+get; any message size; producers and consumers; persistent or not; embedded sessions or
 * application connections through an mq or jms queue manager. With --rate, producers send on
 * a schedule and latency is measured from when each message was due (coordinated omission
 * corrected); how late the sends were is reported as "delay".
 */
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';

import * as hdr from 'hdr-histogram-js';

import { Controller } from '../controller/controller.js';
import type { Session } from '../controller/session.js';
import type { JmsConnection, MqConnection } from '../qm/client.js';
import type { QueueManager } from '../qm/queue-manager.js';
import { CliError, EXIT } from './output.js';

export interface BenchParameters {
  scenario: 'put' | 'get' | 'putget';
  messageBytes: number;
  producers: number;
  consumers: number;
  persistent: boolean;
  route: 'embedded' | 'mq' | 'jms';
  seconds: number;
  /** Messages per second in all, spread over the producers; 0: as fast as they go. */
  rate: number;
  lun: string;
  lunBytes: number;
  /** Messages preloaded for the get scenario (0: enough for the run, by the disk's rate). */
  preload: number;
}

interface Client {
  put(body: Buffer): Promise<void>;
  /** Resolves false when the queue had nothing within the wait. */
  get(waitMs: number): Promise<boolean>;
  close(): void | Promise<void>;
}

const QUEUE = 'SANMQ.BENCH';
const PERCENTILES = [50, 90, 99, 99.9] as const;

function histogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000,
    numberOfSignificantValueDigits: 3 });
}

function latency(h: hdr.Histogram): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of PERCENTILES) out[`p${p}`] = h.totalCount === 0 ? 0 : h.getValueAtPercentile(p);
  out['max'] = h.totalCount === 0 ? 0 : h.maxValue;
  out['mean'] = h.totalCount === 0 ? 0 : Math.round(h.mean);
  return out;
}

/** One get (and its commit when persistent); false when nothing came within the wait. */
async function getOne(get: () => Promise<unknown>, commit: () => Promise<void>, persistent: boolean):
Promise<boolean> {
  try {
    await get();
    if (persistent) await commit();
    return true;
  } catch (error) {
    if ((error as { code?: string }).code === 'E_NO_MSG') return false;
    throw error;
  }
}

async function clients(controller: Controller, qm: QueueManager | undefined, params: BenchParameters,
  count: number): Promise<Client[]> {
  return Promise.all(Array.from({ length: count }, async (): Promise<Client> => {
    if (qm === undefined) {
      const session: Session = controller.session();
      return {
        put: async (body) => {
          await session.put(QUEUE, { body, persistent: params.persistent }, { syncpoint: params.persistent });
          if (params.persistent) await session.commit();
        },
        get: (waitMs) => getOne(() => session.get(QUEUE, { waitMs, syncpoint: params.persistent }),
          () => session.commit(), params.persistent),
        close: () => session.close(),
      };
    }
    const connection = await qm.connect();
    const get = (waitMs: number): Promise<boolean> => getOne(
      () => connection.get(QUEUE, { waitMs, syncpoint: params.persistent }),
      () => connection.commit(), params.persistent);
    if (connection.personality === 'mq') {
      const mq = connection as MqConnection;
      return {
        put: async (body) => {
          await mq.put(QUEUE, { body, descriptor: { persistence: params.persistent ? 1 : 0 } },
            { syncpoint: params.persistent });
          if (params.persistent) await mq.commit();
        },
        get, close: () => mq.close(),
      };
    }
    const jms = connection as JmsConnection;
    return {
      put: async (body) => {
        await jms.put(QUEUE, { type: 'bytes', bytes: body,
          deliveryMode: params.persistent ? 'PERSISTENT' : 'NON_PERSISTENT' }, { syncpoint: params.persistent });
        if (params.persistent) await jms.commit();
      },
      get, close: () => jms.close(),
    };
  }));
}

export interface BenchResult {
  parameters: BenchParameters;
  disk: { fdatasyncPerSecond: number; fdatasyncP50Us: number; fdatasyncP99Us: number;
    sequentialBytesPerSecond: number; };
  seconds: number;
  sent: number;
  received: number;
  msgsPerSecond: number;
  bytesPerSecond: number;
  /** Messages per second ÷ the disk's fdatasync rate; bytes per second ÷ its sequential rate. */
  ratioToFdatasync: number;
  ratioToSequential: number;
  /** Microseconds: put (+commit) acknowledgement, and get (+commit). */
  sendLatencyUs: Record<string, number>;
  receiveLatencyUs: Record<string, number>;
  /** --rate: how late sends started against their schedule (µs); coordinated omission. */
  delayUs: Record<string, number> | undefined;
  intervals: Array<{ second: number; sent: number; received: number; sendP99Us: number }>;
}

export async function runBench(params: BenchParameters, print: (line: string) => void,
  hdrFile: string | undefined): Promise<BenchResult> {
  const existing = await stat(params.lun).catch(() => undefined);
  if (existing !== undefined && !existing.isFile()) {
    throw new CliError(`--lun ${params.lun} is not a regular file; the benchmark formats a file of its own`, EXIT.usage);
  }
  await mkdir(dirname(params.lun), { recursive: true });
  await rm(params.lun, { force: true });
  print(`sanmq bench: scenario=${params.scenario} size=${params.messageBytes} producers=${params.producers} ` +
    `consumers=${params.consumers} persistent=${params.persistent} route=${params.route} ` +
    `seconds=${params.seconds} rate=${params.rate === 0 ? 'unlimited' : params.rate} lun=${params.lun} ` +
    `lun-size=${params.lunBytes}`);
  const controller = await Controller.mount(params.lun, { create: { sizeBytes: params.lunBytes } });
  const open: Client[] = [];
  try {
    const disk = await controller.lun.measureDisk({ durationMs: 1000 });
    print(`disk: ${Math.round(disk.fdatasyncPerSecond)} fdatasync/s (p50 ${Math.round(disk.fdatasyncP50Us)} µs, ` +
      `p99 ${Math.round(disk.fdatasyncP99Us)} µs), ${(disk.sequentialBytesPerSecond / 2 ** 20).toFixed(0)} MiB/s sequential`);
    await controller.defineQueue(QUEUE, { maxDepth: 999_999_999, defaultPersistent: params.persistent,
      maxMessageLength: Math.max(params.messageBytes, 1) });
    const qm = params.route === 'embedded' ? undefined
      : await controller.startQueueManager({ name: 'BENCHQM', personality: params.route });
    const body = Buffer.alloc(params.messageBytes, 0x61);
    const producers = params.scenario === 'get' ? [] : await clients(controller, qm, params, params.producers);
    const consumers = params.scenario === 'put' ? [] : await clients(controller, qm, params, params.consumers);
    open.push(...producers, ...consumers);
    if (params.scenario === 'get') {
      const loader = (await clients(controller, qm, params, 1))[0] as Client;
      open.push(loader);
      const count = params.preload > 0 ? params.preload
        : Math.max(1000, Math.round(disk.fdatasyncPerSecond * params.seconds * 2));
      const session = controller.session();
      for (let i = 0; i < count; i++) {
        await session.put(QUEUE, { body, persistent: params.persistent }, { syncpoint: true });
        if (i % 1000 === 999) await session.commit();
      }
      await session.commit();
      await session.close();
      print(`preloaded ${count} messages`);
    }

    const send = histogram();
    const receive = histogram();
    const delay = histogram();
    let intervalSend = histogram();
    let sent = 0;
    let received = 0;
    const intervals: BenchResult['intervals'] = [];
    const started = performance.now();
    const deadline = started + params.seconds * 1000;
    const perProducerRate = params.rate / Math.max(1, params.producers);
    const produce = async (client: Client, index: number): Promise<void> => {
      let due = started + (perProducerRate > 0 ? (index / params.rate) * 1000 : 0);
      while (performance.now() < deadline) {
        if (perProducerRate > 0) {
          const wait = due - performance.now();
          if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
          if (performance.now() >= deadline) break;
        }
        const t0 = performance.now();
        await client.put(body);
        const t1 = performance.now();
        // Under --rate, latency counts from when the message was due.
        const from = perProducerRate > 0 ? Math.min(due, t0) : t0;
        const us = Math.max(1, Math.round((t1 - from) * 1000));
        send.recordValue(us);
        intervalSend.recordValue(us);
        if (perProducerRate > 0) {
          delay.recordValue(Math.max(1, Math.round((t0 - due) * 1000)));
          due += 1000 / perProducerRate;
        }
        sent++;
      }
    };
    const consume = async (client: Client): Promise<void> => {
      while (performance.now() < deadline) {
        const t0 = performance.now();
        if (await client.get(Math.max(1, Math.round(Math.min(200, deadline - t0))))) {
          receive.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
          received++;
        }
      }
    };
    let lastSent = 0;
    let lastReceived = 0;
    let second = 0;
    const ticker = setInterval(() => {
      second++;
      const p99 = intervalSend.totalCount === 0 ? 0 : intervalSend.getValueAtPercentile(99);
      intervals.push({ second, sent: sent - lastSent, received: received - lastReceived, sendP99Us: p99 });
      print(`${String(second).padStart(4)}s  sent ${sent - lastSent} msg/s  received ${received - lastReceived} msg/s` +
        `  send p99 ${p99} µs`);
      if (process.stderr.isTTY === true) {
        const done = Math.min(1, second / params.seconds);
        process.stderr.write(`[${'#'.repeat(Math.round(done * 30))}${'.'.repeat(30 - Math.round(done * 30))}] ` +
          `${second}/${params.seconds} s\r`);
      }
      lastSent = sent;
      lastReceived = received;
      intervalSend = histogram();
    }, 1000);
    try {
      await Promise.all([...producers.map(produce), ...consumers.map(consume)]);
    } finally {
      clearInterval(ticker);
    }
    const seconds = (performance.now() - started) / 1000;
    const moved = params.scenario === 'get' ? received : sent;
    const msgsPerSecond = moved / seconds;
    const result: BenchResult = {
      parameters: params,
      disk: { fdatasyncPerSecond: disk.fdatasyncPerSecond, fdatasyncP50Us: disk.fdatasyncP50Us,
        fdatasyncP99Us: disk.fdatasyncP99Us, sequentialBytesPerSecond: disk.sequentialBytesPerSecond },
      seconds, sent, received, msgsPerSecond, bytesPerSecond: msgsPerSecond * params.messageBytes,
      ratioToFdatasync: msgsPerSecond / disk.fdatasyncPerSecond,
      ratioToSequential: (msgsPerSecond * params.messageBytes) / disk.sequentialBytesPerSecond,
      sendLatencyUs: latency(send), receiveLatencyUs: latency(receive),
      delayUs: params.rate > 0 ? latency(delay) : undefined, intervals,
    };
    const l = (name: string, values: Record<string, number>) => `${name} µs: ` +
      `p50 ${values['p50']}  p90 ${values['p90']}  p99 ${values['p99']}  p99.9 ${values['p99.9']}  max ${values['max']}`;
    print('--- SUMMARY');
    print(`${msgsPerSecond.toFixed(0)} msgs/s, ${(result.bytesPerSecond / 2 ** 20).toFixed(2)} MiB/s ` +
      `(sent ${sent}, received ${received} in ${seconds.toFixed(2)} s) = ${result.ratioToFdatasync.toFixed(2)} × ` +
      `the disk's fdatasync rate, ${result.ratioToSequential.toFixed(3)} × its sequential rate`);
    if (sent > 0) print(l(params.persistent ? 'send (put+commit)' : 'send (put)', result.sendLatencyUs));
    if (received > 0) print(l(params.persistent ? 'receive (get+commit)' : 'receive (get)', result.receiveLatencyUs));
    if (result.delayUs !== undefined) print(l('delay of sends against their schedule', result.delayUs));
    if (hdrFile !== undefined) {
      let log = '';
      const writer = new hdr.HistogramLogWriter((text: string) => {
        log += text;
      });
      writer.outputLogFormatVersion();
      writer.outputStartTime(Date.now());
      writer.outputLegend();
      if (send.totalCount > 0) writer.outputIntervalHistogram(send, 0, seconds, 1);
      if (receive.totalCount > 0) writer.outputIntervalHistogram(receive, 0, seconds, 1);
      await writeFile(hdrFile, log);
      print(`HdrHistogram log (µs; send then receive) written to ${hdrFile}`);
    }
    return result;
  } finally {
    for (const client of open) await client.close();
    await controller.unmount();
    await rm(params.lun, { force: true });
  }
}
