/**
 * The `sanmq` command, driven as a user drives it, in child processes: format → mount →
 * mqsc → put / get / browse → metrics while traffic flows → unmount on SIGTERM → check; its
 * --json outputs parsed; and each bad input answered with one line and its exit code.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import t from 'tap';

import { addressOffset, formatConstants, Lun } from '../src/index.js';
import { compiledTree } from './helpers/compile.js';
import { flipBit, testDir } from './helpers/lun.js';

const cli = () => join(compiledTree(), 'src', 'cli', 'main.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `sanmq args…` to its end (at most 60 s). */
function sanmq(args: string[], input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli(), ...args], { stdio: ['pipe', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`sanmq ${args.join(' ')} did not end within 60 s`));
    }, 60_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

interface Mount {
  child: ChildProcess;
  ready: { admin: { port: number }; queueManagers: Array<{ name: string; port: number }> };
  stderr: () => string;
  exit: Promise<number | null>;
}

async function startMount(t: { teardown(fn: () => unknown): void }, lun: string, config: string): Promise<Mount> {
  const child = spawn(process.execPath, [cli(), 'mount', lun, '--config', config, '--json'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
  t.teardown(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exit;
    }
  });
  const ready = await new Promise<Mount['ready']>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mount not ready in 30 s: ${stderr}`)), 30_000);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      try {
        const value = JSON.parse(stdout) as Mount['ready'];
        clearTimeout(timer);
        resolve(value);
      } catch {
        // Not all of it yet.
      }
    });
    void exit.then((code) => {
      clearTimeout(timer);
      reject(new Error(`mount exited (${String(code)}): ${stderr}`));
    });
  });
  return { child, ready, stderr: () => stderr, exit };
}

t.test('format, mount, administer, put, get, browse, scrape metrics, unmount and check', async (t) => {
  const dir = testDir(t);
  const lun = join(dir, 'cli.lun');
  const formatted = await sanmq(['format', lun, '--size', '64MiB', '--json']);
  t.equal(formatted.code, 0, formatted.stderr);
  t.match(JSON.parse(formatted.stdout), { sizeBytes: 64 * 2 ** 20, casSlots: 256 });
  const again = await sanmq(['format', lun, '--size', '64MiB']);
  t.equal(again.code, 4, 'formatting over a LUN needs --force');
  t.match(again.stderr, /^sanmq: E_FOREIGN_DATA: .*\n$/);

  const config = join(dir, 'sanmq.json');
  await writeFile(config, JSON.stringify({ queueManagers: [
    { name: 'QM1', personality: 'mq', port: 0 }, { name: 'QM2', personality: 'jms', port: 0 }],
  admin: { port: 0 } }));
  const mount = await startMount(t, lun, config);
  const admin = `127.0.0.1:${mount.ready.admin.port}`;
  const [qm1, qm2] = mount.ready.queueManagers as unknown as [{ port: number }, { port: number }];
  t.same(mount.ready.queueManagers.map((m) => m.name), ['QM1', 'QM2']);

  const defined = await sanmq(['mqsc', '--admin', admin, '--json',
    "DEFINE QLOCAL(ORDERS) MAXDEPTH(1000) DEFPSIST(YES) DESCR('orders')", 'DISPLAY QLOCAL(ORD*)']);
  t.equal(defined.code, 0, defined.stderr);
  const results = JSON.parse(defined.stdout) as Array<{ ok: boolean; rows?: Array<Record<string, unknown>> }>;
  t.match(results[1]?.rows, [{ QUEUE: 'ORDERS', MAXDEPTH: 1000, DEFPSIST: 'YES', DESCR: 'orders' }]);

  const put = await sanmq(['put', 'ORDERS', '--port', String(qm1.port), '--json'], 'alpha\nbeta\ngamma\n');
  t.same(JSON.parse(put.stdout), { queue: 'ORDERS', put: 3 });
  const browsed = await sanmq(['browse', 'ORDERS', '--port', String(qm1.port)]);
  t.match(browsed.stdout, /\*\*\*\* Message 1 \*\*\*\*[\s\S]*Format\s+: MQSTR[\s\S]*'alpha'/);
  t.match(browsed.stdout, /\*\*\*\* Message 3 \*\*\*\*/);

  // Metrics while traffic flows: a loop of puts through the jms member.
  let flowing = true;
  const traffic = (async () => {
    for (let i = 0; flowing && i < 50; i++) {
      await sanmq(['put', 'ORDERS', '--port', String(qm2.port), '--message', `m${i}`]);
    }
  })();
  const metrics = await (await fetch(`http://${admin}/metrics`)).text();
  flowing = false;
  await traffic;
  t.match(metrics, /^sanmq_queue_depth\{queue="ORDERS"\} \d+$/m);
  t.match(metrics, /^sanmq_members\{role="queue-manager"\} 2$/m);
  t.match(metrics, /^sanmq_lun_syncs_total \d+$/m);
  // The workers' own metrics, merged: they report every second.
  await new Promise((resolve) => setTimeout(resolve, 1200));
  t.match(await (await fetch(`http://${admin}/metrics`)).text(), /^sanmq_qm_requests_total\{qm="QM2"\} [1-9]\d*$/m);

  const got = await sanmq(['get', 'ORDERS', '--port', String(qm2.port), '--json']);
  const messages = JSON.parse(got.stdout) as Array<{ type: string; text: string }>;
  t.same(messages.slice(0, 3).map((m) => m.text), ['alpha', 'beta', 'gamma'], 'the jms member reads what mq put');
  const status = JSON.parse((await sanmq(['status', '--admin', admin, '--json'])).stdout) as {
    queues: Array<{ name: string; depth: number }> };
  t.equal(status.queues.find((q) => q.name === 'ORDERS')?.depth, 0, 'all gotten');

  mount.child.kill('SIGTERM');
  t.equal(await mount.exit, 0, 'SIGTERM unmounts cleanly');
  t.match(mount.stderr(), /"msg":"controller unmounted"/, 'pino logged the unmount');
  const checked = await sanmq(['check', lun, '--json']);
  t.equal(checked.code, 0, checked.stderr);
  t.match(JSON.parse(checked.stdout), { clean: true, problems: [], queues: [{ name: 'ORDERS', depth: 0 }] });
});

t.test('bad input gets one clear line and its exit code', async (t) => {
  const dir = testDir(t);
  const missing = await sanmq(['info', join(dir, 'none.lun')]);
  t.equal(missing.code, 3, 'missing LUN');
  t.match(missing.stderr, /^sanmq: E_NOT_FOUND: .*none\.lun: no such file or block device\n$/);
  const foreignPath = join(dir, 'foreign.bin');
  await writeFile(foreignPath, Buffer.alloc(1 << 20, 7));
  const foreign = await sanmq(['check', foreignPath]);
  t.equal(foreign.code, 4, 'a foreign file');
  t.match(foreign.stderr, /^sanmq: E_NOT_A_LUN: /);
  const unknown = await sanmq(['frobnicate']);
  t.equal(unknown.code, 2, 'an unknown command');
  t.match(unknown.stderr, /unknown command 'frobnicate'/);
  const badSize = await sanmq(['format', join(dir, 'x.lun'), '--size', 'lots']);
  t.equal(badSize.code, 2);
  t.match(badSize.stderr, /'lots' is not a size/);
  const syntax = await sanmq(['mqsc', '--verify', 'DEFINE QLOCAL(A) MAXDEPTH(many)']);
  t.equal(syntax.code, 2, 'bad MQSC syntax');
  t.match(syntax.stderr, /^sanmq: E_INVALID_ARGUMENT: MQSC line 1: MAXDEPTH\(many\) must be a whole number\n$/);
  t.equal((await sanmq(['mqsc', '--verify', 'DEFINE QLOCAL(A)', 'DISPLAY CHSTATUS(*)'])).code, 0);
  const noController = await sanmq(['mqsc', '--admin', '127.0.0.1:9', 'DISPLAY QLOCAL(*)']);
  t.equal(noController.code, 7, 'no controller mounted there');

  // A busy LUN and an unknown queue, against a mounted one.
  const lun = join(dir, 'busy.lun');
  t.equal((await sanmq(['format', lun, '--size', '64MiB'])).code, 0);
  const config = join(dir, 'one.json');
  await writeFile(config, JSON.stringify({ queueManagers: [{ name: 'QM1', personality: 'mq', port: 0,
    channels: false }], admin: { port: 0 } }));
  const mount = await startMount(t, lun, config);
  const busy = await sanmq(['info', lun]);
  t.equal(busy.code, 5, 'a mounted LUN is busy');
  t.match(busy.stderr, /^sanmq: E_LUN_BUSY: .*held by pid \d+/);
  const port = String(mount.ready.queueManagers[0]?.port);
  const unknownQueue = await sanmq(['get', 'NO.SUCH.QUEUE', '--port', port]);
  t.equal(unknownQueue.code, 3);
  t.match(unknownQueue.stderr, /^sanmq: E_UNKNOWN_QUEUE: queue 'NO.SUCH.QUEUE' is not defined\n$/);
  const failed = await sanmq(['mqsc', '--admin', `127.0.0.1:${mount.ready.admin.port}`, 'DELETE QLOCAL(NOPE)']);
  t.equal(failed.code, 1, 'a command that fails');
  t.match(failed.stdout, /E_UNKNOWN_QUEUE/);
  mount.child.kill('SIGTERM');
  t.equal(await mount.exit, 0);
});

t.test('check finds damage, names its address and exits 6', async (t) => {
  const dir = testDir(t);
  const lun = join(dir, 'damaged.lun');
  t.equal((await sanmq(['format', lun, '--size', '64MiB'])).code, 0);
  const config = join(dir, 'one.json');
  await writeFile(config, JSON.stringify({ queueManagers: [{ name: 'QM1', personality: 'mq', port: 0,
    channels: false }], admin: { port: 0 } }));
  const mount = await startMount(t, lun, config);
  const admin = `127.0.0.1:${mount.ready.admin.port}`;
  await sanmq(['mqsc', '--admin', admin, 'DEFINE QLOCAL(Q) DEFPSIST(YES)']);
  await sanmq(['put', 'Q', '--persistent', '--port', String(mount.ready.queueManagers[0]?.port)],
    `${'x'.repeat(3000)}\n`.repeat(20));
  mount.child.kill('SIGTERM');
  await mount.exit;
  const clean = JSON.parse((await sanmq(['check', lun, '--json'])).stdout) as { queues: Array<{ depth: number }> };
  t.equal(clean.queues[0]?.depth, 20);
  // A bit flipped inside the body of the last message record.
  const reader = await Lun.open(lun, { readOnly: true });
  let address = -1;
  for await (const record of reader.records(1)) address = record.address;
  await reader.close();
  t.ok(address >= 0, 'a message record to damage');
  await flipBit(lun, addressOffset(address) + formatConstants.recordHeaderBytes + 1000, 3);
  const damaged = await sanmq(['check', lun, '--json']);
  t.equal(damaged.code, 6, damaged.stderr);
  const report = JSON.parse(damaged.stdout) as { clean: boolean; problems: Array<{ address: number; reason: string }> };
  t.equal(report.clean, false);
  t.ok(report.problems.length > 0 && report.problems.every((p) => typeof p.address === 'number'),
    `the damage is listed with its address: ${JSON.stringify(report.problems[0])}`);
  t.match(damaged.stderr, /^sanmq: E_CORRUPT: .*problems found\n$/);
});

t.test('a short bench run prints its header, a line a second and a SUMMARY, and its JSON has every field',
  async (t) => {
    const dir = testDir(t);
    const run = await sanmq(['bench', '--scenario', 'putget', '--producers', '2', '--consumers', '2',
      '--seconds', '2', '--lun', join(dir, 'bench.lun'), '--lun-size', '128MiB', '--json',
      '--hdr', join(dir, 'bench.hdr')]);
    t.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as Record<string, unknown>;
    for (const field of ['parameters', 'disk', 'seconds', 'sent', 'received', 'msgsPerSecond',
      'bytesPerSecond', 'ratioToFdatasync', 'ratioToSequential', 'sendLatencyUs', 'receiveLatencyUs',
      'intervals']) {
      t.ok(field in result, `the JSON has ${field}`);
    }
    t.match(result, { parameters: { scenario: 'putget', producers: 2, consumers: 2, persistent: true,
      route: 'embedded', messageBytes: 1024 }, disk: { fdatasyncPerSecond: Number } });
    t.ok((result['sent'] as number) > 0 && (result['received'] as number) > 0, 'messages moved both ways');
    t.match(result['sendLatencyUs'], { p50: Number, p90: Number, p99: Number, 'p99.9': Number, max: Number });
    t.match(run.stderr, /^sanmq bench: scenario=putget size=1024 producers=2 consumers=2 persistent=true /);
    t.match(run.stderr, /--- SUMMARY\n\d+ msgs\/s, [\d.]+ MiB\/s .* × the disk's fdatasync rate/);
    const { readFile } = await import('node:fs/promises');
    t.match(await readFile(join(dir, 'bench.hdr'), 'utf8'), /^#\[Histogram log format version 1\.3\]/);
    const rated = await sanmq(['bench', '--seconds', '1', '--rate', '500', '--lun', join(dir, 'bench.lun'),
      '--lun-size', '128MiB', '--json']);
    t.equal(rated.code, 0, rated.stderr);
    t.match(JSON.parse(rated.stdout), { delayUs: { p50: Number, max: Number } },
      '--rate reports how late sends were (coordinated omission)');
  });

t.test('mount --create formats a missing LUN, gives it DEV.QUEUE.1 and says how to start', async (t) => {
  const dir = testDir(t);
  const lun = join(dir, 'sub', 'new.lun');
  const child = spawn(process.execPath, [cli(), 'mount', lun, '--create', '64MiB', '--config',
    await (async () => {
      const config = join(dir, 'c.json');
      await writeFile(config, JSON.stringify({ queueManagers: [{ name: 'QM1', personality: 'mq',
        port: 0, channels: false }], admin: { port: 0 } }));
      return config;
    })()], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exit = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no start line in 30 s')), 30_000);
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('Ctrl-C')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  t.match(out, /mounted; admin http:\/\/127\.0\.0\.1:\d+\/status\n  QM1 \(mq\) on 127\.0\.0\.1:\d+\n/);
  t.match(out, /try: echo hello \| npm run -s sanmq -- put DEV\.QUEUE\.1 --port \d+/);
  child.kill('SIGINT');
  t.equal(await exit, 0, 'Ctrl-C unmounts');
  const info = JSON.parse((await sanmq(['info', lun, '--json'])).stdout) as { queues: Array<{ name: string }> };
  t.ok(info.queues.some((q) => q.name === 'DEV.QUEUE.1'));
});
