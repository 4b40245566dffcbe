/**
 * Queue managers killed under load (reliability suite 7): 64 producers and 64 consumers work
 * through four members of both personalities while a member is terminated and restarted every
 * few seconds; a Jepsen-style total-queue checker then finds no acknowledged message lost,
 * none unexpected and none duplicated. Its negative control, a client that counts a put as
 * acknowledged before its commit, must be caught losing messages, or the check proves nothing.
 * Seeded: the seed is printed, and SANMQ_SEED replays it; SANMQ_SOAK_SECONDS runs longer.
 */
import t from 'tap';

import type { Controller } from '../src/index.js';
import type { JmsConnection, MqConnection } from '../src/qm/client.js';
import type { QueueManager } from '../src/qm/queue-manager.js';
import { mountFresh, sleep, type MqTest } from './helpers/mq.js';
import { startQm } from './helpers/qm.js';
import { QueueHistory, type CheckResult } from './helpers/queue-checker.js';

const QUEUE = 'WORK';
const seed = Number(process.env['SANMQ_SEED'] ?? Date.now() % 1_000_000);
const seconds = Number(process.env['SANMQ_SOAK_SECONDS'] ?? 30);

/** A small seeded generator (mulberry32). */
function random(state: number): () => number {
  let a = state >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4_294_967_296;
  };
}

type Connection = MqConnection | JmsConnection;

function broken(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'E_CONNECTION_BROKEN' || code === 'E_QM_NOT_AVAILABLE' || code === 'E_CLOSED';
}

/** A client's connection to some running member, made again when its member dies. */
class Link {
  #connection: Connection | undefined;
  #next: number;

  constructor(readonly members: QueueManager[], start: number) {
    this.#next = start;
  }

  async get(): Promise<Connection> {
    for (let attempt = 0; this.#connection === undefined; attempt++) {
      if (attempt > 2000) throw new Error('no member accepted a connection for 20 s');
      const qm = this.members[this.#next++ % this.members.length] as QueueManager;
      if (!qm.running) {
        await sleep(10);
        continue;
      }
      this.#connection = await qm.connect().catch(async (error: unknown) => {
        if (!broken(error)) throw error;
        await sleep(10);
        return undefined;
      });
    }
    return this.#connection;
  }

  drop(): void {
    this.#connection?.close();
    this.#connection = undefined;
  }
}

async function put(connection: Connection, id: string): Promise<void> {
  if (connection.personality === 'mq') {
    await (connection as MqConnection).put(QUEUE, { body: id, descriptor: { persistence: 1 } }, { syncpoint: true });
  } else {
    await (connection as JmsConnection).put(QUEUE, { type: 'text', text: id, deliveryMode: 'PERSISTENT' },
      { syncpoint: true });
  }
}

async function get(connection: Connection): Promise<string | undefined> {
  try {
    const message = await connection.get(QUEUE, { syncpoint: true, waitMs: 200 });
    return 'text' in message ? message.text : (message as { body: Buffer }).body.toString();
  } catch (error) {
    if ((error as { code?: string }).code === 'E_NO_MSG') return undefined;
    throw error;
  }
}

interface Run {
  result: CheckResult;
  kills: number;
}

/**
 * Runs the workload for `runSeconds` with a kill of a random member every `killEveryMs`, or,
 * when `killEveryMs` is 0, every member killed once after the first 1,000 acknowledged puts.
 * `unsafe`: producers count a put as acknowledged before committing it, and hold it
 * uncommitted a while.
 */
async function run(t: MqTest, controller: Controller, runSeconds: number, killEveryMs: number,
  unsafe: boolean, rng: () => number): Promise<Run> {
  await controller.defineQueue(QUEUE, { defaultPersistent: true, maxDepth: 10_000_000 });
  const members: QueueManager[] = [];
  for (const [name, personality] of [['QM1', 'mq'], ['QM2', 'jms'], ['QM3', 'mq'], ['QM4', 'jms']] as const) {
    members.push(await startQm(t, controller, { name, personality }));
  }
  const history = new QueueHistory();
  let producing = true;
  let consuming = true;
  const producer = async (index: number): Promise<void> => {
    const link = new Link(members, index);
    for (let sequence = 0; producing && sequence < 10_000_000; sequence++) {
      const id = `p${index}:${sequence}`;
      history.attempt(id);
      let committing = false;
      try {
        const connection = await link.get();
        await put(connection, id);
        if (unsafe) {
          history.acknowledge(id);
          await sleep(20);
        }
        committing = true;
        await connection.commit();
        if (!unsafe) history.acknowledge(id);
      } catch (error) {
        if (!broken(error)) throw error;
        if (committing && !unsafe) history.indeterminate(id);
        link.drop();
      }
    }
    link.drop();
  };
  const consumer = async (index: number): Promise<void> => {
    const link = new Link(members, index + 1);
    for (let i = 0; consuming && i < 100_000_000; i++) {
      let id: string | undefined;
      try {
        const connection = await link.get();
        id = await get(connection);
        if (id === undefined) continue;
        await connection.commit();
        history.receive(id, `c${index}`);
      } catch (error) {
        if (!broken(error)) throw error;
        // Gotten, its commit's outcome unknown: either consumed or backed out for another.
        if (id !== undefined) history.receiveIndeterminate(id);
        link.drop();
      }
    }
    link.drop();
  };
  let kills = 0;
  let killing = true;
  const killer = (async () => {
    if (killEveryMs === 0) {
      for (let i = 0; killing && history.acknowledgedCount < 1000 && i < 3000; i++) await sleep(10);
      for (const victim of members) {
        await victim.terminate();
        kills++;
        await victim.restart();
      }
      return;
    }
    while (killing) {
      await sleep(killEveryMs * (0.5 + rng()));
      if (!killing) break;
      const victim = members[Math.floor(rng() * members.length)] as QueueManager;
      if (!victim.running) continue;
      await victim.terminate();
      kills++;
      await sleep(200 + rng() * 300);
      await victim.restart();
    }
  })();
  const workers = [...Array.from({ length: 64 }, (_, i) => producer(i)),
    ...Array.from({ length: 64 }, (_, i) => consumer(i))];
  await sleep(runSeconds * 1000);
  killing = false;
  await killer;
  producing = false;
  await sleep(1000);
  consuming = false;
  await Promise.all(workers);
  // What is left is drained in-process.
  const session = controller.session();
  for (let i = 0; i < 10_000_000; i++) {
    let body: string;
    try {
      body = (await session.get(QUEUE)).body.toString();
    } catch {
      break;
    }
    history.receive(body);
  }
  await session.close();
  return { result: history.check(), kills };
}

t.test(`members killed under load lose nothing (seed ${seed}, ${seconds} s)`, async (t) => {
  t.comment(`seed ${seed}: replay with SANMQ_SEED=${seed}`);
  const { controller } = await mountFresh(t);
  const { result, kills } = await run(t, controller, seconds, 3000, false, random(seed));
  t.comment(JSON.stringify({ kills, ...result }));
  t.ok(kills >= Math.floor(seconds / 6), `members were killed (${kills})`);
  t.ok(result.acknowledged > 1000, `work was done (${result.acknowledged} acknowledged puts)`);
  t.equal(result.lost, 0, `lost 0 (${JSON.stringify(result.examples.lost)})`);
  t.equal(result.unexpected, 0, `unexpected 0 (${JSON.stringify(result.examples.unexpected)})`);
  t.equal(result.duplicated, 0, `duplicated 0 (${JSON.stringify(result.examples.duplicated)})`);
});

t.test('negative control: acknowledging a put before its commit is caught losing messages',
  async (t) => {
    const { controller } = await mountFresh(t);
    const { result, kills } = await run(t, controller, 5, 0, true, random(seed + 1));
    t.comment(JSON.stringify({ kills, ...result }));
    t.equal(kills, 4, 'each member was killed once, with the work under way');
    t.ok(result.lost > 0, `the checker flags the unsafe client: lost ${result.lost}`);
  });
