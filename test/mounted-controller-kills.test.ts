/**
 * Real kills of a mounted controller (reliability suite 2, quick tier): `sanmq mount` runs in a
 * child process with two queue managers of different personalities; producers and consumers in
 * this process work through their TCP listeners; the child is killed with SIGKILL at a random
 * moment, mounted again on the same LUN, and the clients reconnect, KILLS times. A Jepsen-style
 * total-queue checker then finds no acknowledged message lost and none unexpected. Seeded: the
 * seed is printed and SANMQ_SEED replays the kill times.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import t from 'tap';

import { connectQueueManager, type JmsConnection, type MqConnection } from '../src/index.js';
import { compiledTree } from './helpers/compile.js';
import { testDir } from './helpers/lun.js';
import { sleep } from './helpers/mq.js';
import { QueueHistory } from './helpers/queue-checker.js';

const KILLS = Number(process.env['SANMQ_KILLS'] ?? 10);
const seed = Number(process.env['SANMQ_SEED'] ?? Date.now() % 1_000_000);
const QUEUE = 'WORK';

type Connection = MqConnection | JmsConnection;

interface Mounted {
  child: ChildProcess;
  exit: Promise<number | null>;
  ports: number[];
  admin: number;
}

function broken(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === 'E_CONNECTION_BROKEN' || code === 'E_QM_NOT_AVAILABLE' || code === 'E_CLOSED';
}

t.test(`a mounted controller killed ${KILLS} times under load loses nothing (seed ${seed})`, async (t) => {
  t.comment(`seed ${seed}: replay with SANMQ_SEED=${seed}`);
  let rng = seed >>> 0;
  const random = () => {
    rng = (Math.imul(rng, 1_103_515_245) + 12_345) >>> 0;
    return rng / 4_294_967_296;
  };
  const dir = testDir(t);
  const lun = join(dir, 'killed.lun');
  const config = join(dir, 'sanmq.json');
  await writeFile(config, JSON.stringify({ queueManagers: [
    { name: 'QM1', personality: 'mq', port: 0, channels: false },
    { name: 'QM2', personality: 'jms', port: 0, channels: false }], admin: { port: 0 } }));
  const cli = join(compiledTree(), 'src', 'cli', 'main.js');
  let current: Mounted | undefined;
  t.teardown(async () => {
    if (current !== undefined && current.child.exitCode === null && current.child.signalCode === null) {
      current.child.kill('SIGKILL');
      await current.exit;
    }
  });
  const mount = async (): Promise<Mounted> => {
    const child = spawn(process.execPath, [cli, 'mount', lun, '--create', '128MiB', '--config', config,
      '--json', '--log-level', 'warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
    let out = '';
    let err = '';
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const ready = await new Promise<{ admin: { port: number }; queueManagers: Array<{ port: number }> }>(
      (resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`mount not ready in 30 s: ${err}`)), 30_000);
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          try {
            resolve(JSON.parse(out) as { admin: { port: number }; queueManagers: Array<{ port: number }> });
            clearTimeout(timer);
          } catch {
            // not all of it yet
          }
        });
        void exit.then((code) => {
          clearTimeout(timer);
          reject(new Error(`mount exited (${String(code)}): ${err}`));
        });
      });
    return { child, exit, ports: ready.queueManagers.map((m) => m.port), admin: ready.admin.port };
  };
  current = await mount();
  const defined = await fetch(`http://127.0.0.1:${current.admin}/mqsc`, { method: 'POST',
    body: `DEFINE QLOCAL(${QUEUE}) DEFPSIST(YES) MAXDEPTH(999999999)` });
  t.equal(defined.status, 200);

  const history = new QueueHistory();
  let generation = 0;
  let running = true;
  /** A connection to the current mount's i-th queue manager, made again after a kill. */
  const connect = async (index: number): Promise<{ connection: Connection; generation: number }> => {
    for (let attempt = 0; attempt < 3000; attempt++) {
      const mounted = current;
      const seen = generation;
      if (mounted !== undefined && mounted.child.exitCode === null && mounted.child.signalCode === null) {
        try {
          const port = mounted.ports[index % mounted.ports.length] as number;
          return { connection: await connectQueueManager({ port, connectTimeoutMs: 2_000 }), generation: seen };
        } catch (error) {
          if (!broken(error)) throw error;
        }
      }
      await sleep(10);
    }
    throw new Error('no queue manager accepted a connection for 30 s');
  };
  const producer = async (index: number): Promise<void> => {
    let link: Connection | undefined;
    for (let sequence = 0; running && sequence < 10_000_000; sequence++) {
      const id = `p${index}:${sequence}`;
      history.attempt(id);
      let committing = false;
      try {
        link ??= (await connect(index)).connection;
        if (link.personality === 'mq') {
          await (link as MqConnection).put(QUEUE, { body: id, descriptor: { persistence: 1 } }, { syncpoint: true });
        } else {
          await (link as JmsConnection).put(QUEUE, { type: 'text', text: id, deliveryMode: 'PERSISTENT' },
            { syncpoint: true });
        }
        committing = true;
        await link.commit();
        history.acknowledge(id);
      } catch (error) {
        if (!broken(error)) throw error;
        if (committing) history.indeterminate(id);
        link?.close();
        link = undefined;
      }
    }
    link?.close();
  };
  const consumer = async (index: number): Promise<void> => {
    let link: Connection | undefined;
    for (let i = 0; running && i < 100_000_000; i++) {
      let id: string | undefined;
      try {
        link ??= (await connect(index + 1)).connection;
        const message = await link.get(QUEUE, { syncpoint: true, waitMs: 200 }).catch((error: unknown) => {
          if ((error as { code?: string }).code === 'E_NO_MSG') return undefined;
          throw error;
        });
        if (message === undefined) continue;
        id = 'text' in message ? message.text : (message as { body: Buffer }).body.toString();
        await link.commit();
        history.receive(id, `c${index}`);
      } catch (error) {
        if (!broken(error)) throw error;
        if (id !== undefined) history.receiveIndeterminate(id);
        link?.close();
        link = undefined;
      }
    }
    link?.close();
  };
  const workers = [...Array.from({ length: 8 }, (_, i) => producer(i)),
    ...Array.from({ length: 8 }, (_, i) => consumer(i))];
  for (let kill = 0; kill < KILLS; kill++) {
    await sleep(300 + random() * 900);
    const victim = current;
    victim.child.kill('SIGKILL');
    await victim.exit;
    generation++;
    current = await mount();
  }
  await sleep(500);
  running = false;
  await Promise.all(workers);
  // Drain what is left through the last mount.
  const drain = await connectQueueManager({ port: current.ports[0] as number });
  for (let i = 0; i < 10_000_000; i++) {
    try {
      const message = await drain.get(QUEUE);
      history.receive('text' in message ? String(message.text) : (message as { body: Buffer }).body.toString());
    } catch {
      break;
    }
  }
  drain.close();
  const result = history.check();
  t.comment(JSON.stringify({ kills: KILLS, ...result }));
  t.ok(result.acknowledged > 100, `work was done (${result.acknowledged} acknowledged puts)`);
  t.equal(result.lost, 0, `lost 0 (${JSON.stringify(result.examples.lost)})`);
  t.equal(result.unexpected, 0, `unexpected 0 (${JSON.stringify(result.examples.unexpected)})`);
  current.child.kill('SIGTERM');
  t.equal(await current.exit, 0, 'the last mount unmounts cleanly');
});
