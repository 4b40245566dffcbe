/**
 * The queue-manager benchmark (`npm run bench -- qm`): persistent 1 KiB put+commit through a
 * queue manager in a worker thread (mq and jms personalities), with 1 and with 64 application
 * connections, beside the same scenario on embedded sessions (`controller.session()`, in
 * process) and the disk's own fdatasync rate, all measured in the same run on the same LUN.
 * Each line gives the ratio to the fdatasync rate and to the embedded figure of the same
 * connection count, latency percentiles, and how busy this thread's event loop was: it runs
 * the controller and the applications, the worker runs the queue manager.
 */
import { rm } from 'node:fs/promises';
import { performance } from 'node:perf_hooks';

import type { Controller } from '../src/index.js';
import type { JmsConnection, MqConnection } from '../src/qm/client.js';
import type { QueueManager } from '../src/qm/queue-manager.js';
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

type Route = 'embedded' | 'mq' | 'jms';

interface Scenario {
  name: string;
  route: Route;
  connections: number;
}

/** One connection's put+commit, and how to end the connection. */
interface Client {
  putCommit(): Promise<void>;
  close(): Promise<void> | void;
}

const QUEUE = 'BENCH';
const MESSAGE_BYTES = 1024;

/** Opens `count` clients along `route`: embedded sessions, or connections to a queue manager. */
async function openClients(controller: Controller, manager: QueueManager | undefined,
  route: Route, count: number): Promise<Client[]> {
  const body = Buffer.alloc(MESSAGE_BYTES, 0x61);
  return Promise.all(Array.from({ length: count }, async (): Promise<Client> => {
    if (route === 'embedded') {
      const session = controller.session();
      return {
        putCommit: async () => {
          await session.put(QUEUE, { body }, { syncpoint: true });
          await session.commit();
        },
        close: () => session.close(),
      };
    }
    const connection = await (manager as QueueManager).connect();
    if (route === 'mq') {
      const mq = connection as MqConnection;
      return {
        putCommit: async () => {
          await mq.put(QUEUE, { body }, { syncpoint: true });
          await mq.commit();
        },
        close: () => mq.close(),
      };
    }
    const jms = connection as JmsConnection;
    return {
      putCommit: async () => {
        await jms.put(QUEUE, { type: 'bytes', bytes: body }, { syncpoint: true });
        await jms.commit();
      },
      close: () => jms.close(),
    };
  }));
}

interface Measured extends LoopResult {
  /** The share of the wall time this thread's event loop was busy (0 to 1). */
  busy: number;
}

/** Runs one scenario on an empty queue: each client loops put+commit until time is up. */
async function run(controller: Controller, manager: QueueManager | undefined,
  scenario: Scenario, seconds: number, messagesMax: number): Promise<Measured> {
  await controller.clearQueue(QUEUE);
  const clients = await openClients(controller, manager, scenario.route, scenario.connections);
  const before = performance.eventLoopUtilization();
  const result = await closedLoop(clients.length, seconds, messagesMax,
    (index) => (clients[index] as Client).putCommit());
  const busy = performance.eventLoopUtilization(before).utilization;
  await Promise.all(clients.map((client) => client.close()));
  return { ...result, busy };
}

function report(scenario: Scenario, r: Measured, limits: Limits, embedded: number | undefined):
void {
  const rate = r.count / r.seconds;
  const l = r.latencies;
  const versus = scenario.route === 'embedded' ? ''
    : embedded === undefined ? ', embedded not run'
      : `, ${fmt(rate / embedded, 2)} × embedded`;
  console.log(`${scenario.name}: ${fmt(rate)} msgs/s = ${fmt(rate / limits.syncRate, 2)} × ` +
    `the fdatasync rate${versus}; p50 ${fmt(percentile(l, 50))} µs, ` +
    `p99 ${fmt(percentile(l, 99))} µs; main thread busy ${fmt(r.busy * 100)} %`);
}

function scenarios(): Scenario[] {
  const list: Scenario[] = [];
  for (const connections of [1, 64]) {
    const count = connections === 1 ? '1 connection' : `${connections} connections`;
    list.push({ name: `1 KiB put+commit, embedded, ${count}`, route: 'embedded', connections });
    for (const route of ['mq', 'jms'] as const) {
      list.push({ name: `1 KiB put+commit, ${route} queue manager, ${count}`, route, connections });
    }
  }
  return list;
}

export async function qm(options: BenchOptions): Promise<void> {
  const controller = await freshController(options);
  try {
    console.log(`sanmq bench qm: lun=${options.lun} size=${options.sizeGiB} GiB ` +
      `direct=${options.direct} seconds=${options.seconds}`);
    const limits = await diskLimits(controller.lun);
    await controller.defineQueue(QUEUE, { defaultPersistent: true, maxDepth: 999_999_999 });
    const messagesMax = Math.floor(controller.lun.space().freeBytes * 0.3 / MESSAGE_BYTES);
    const managers = new Map<Route, QueueManager>();
    const embedded = new Map<number, number>();
    for (const scenario of scenarios()) {
      if (options.only !== undefined && !scenario.name.includes(options.only)) continue;
      let manager = managers.get(scenario.route);
      if (scenario.route !== 'embedded' && manager === undefined) {
        const name = `BENCH.${scenario.route.toUpperCase()}`;
        manager = await controller.startQueueManager({ name, personality: scenario.route });
        managers.set(scenario.route, manager);
      }
      const r = await run(controller, manager, scenario, options.seconds, messagesMax);
      if (scenario.route === 'embedded') embedded.set(scenario.connections, r.count / r.seconds);
      report(scenario, r, limits, embedded.get(scenario.connections));
    }
    await Promise.all([...managers.values()].map((manager) => manager.stop()));
  } finally {
    if (controller.mounted) await controller.unmount();
    if (!options.keep) await rm(options.lun, { force: true });
  }
}
