/**
 * Members and applications in other processes, over TCP: an application in a child process
 * works through a queue manager's listener; a queue manager in a child process joins the
 * controller at its listener, and when it is killed its work is backed out. Listeners stay on
 * 127.0.0.1 unless a shared secret or TLS guards them; a wrong secret is refused clearly.
 */
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import t from 'tap';

import type { MemberEnded } from '../src/controller/members.js';
import { connectQueueManager, type JmsConnection, type MqConnection } from '../src/qm/client.js';
import { runFixture, spawnFixture, testDir } from './helpers/lun.js';
import { drain, errorOf, mountFresh } from './helpers/mq.js';
import { nextEvent, startQm } from './helpers/qm.js';

const SECRET = 'a-shared-secret-of-some-length';
const noOpenssl = spawnSync('openssl', ['version']).status === 0 ? false
  : 'openssl is not installed: no certificate to serve TLS with';

t.test('an application in another process puts and gets through a queue manager over TCP',
  async (t) => {
    const { controller } = await mountFresh(t);
    await controller.defineQueue('REMOTE', { defaultPersistent: true });
    const qm = await startQm(t, controller, { name: 'QMJ', personality: 'jms',
      listen: { port: 0, secret: SECRET } });
    const port = qm.address?.port ?? 0;
    t.ok(port > 0);
    const out = await runFixture('remote-application.ts', [String(port), SECRET, 'REMOTE', '5'],
      60_000);
    t.same(JSON.parse(out), { personality: 'jms', queueManager: 'QMJ', ids: 5, first: 'remote 0' });
    t.same(await drain(controller, 'REMOTE'), ['remote 1', 'remote 2', 'remote 3', 'remote 4']);
  });

t.test('a hello without the listener\'s secret is refused with E_NOT_AUTHORIZED', async (t) => {
  const { controller } = await mountFresh(t);
  const qm = await startQm(t, controller, { name: 'QM1', personality: 'mq',
    listen: { port: 0, secret: SECRET } });
  const port = qm.address?.port ?? 0;
  const wrong = await errorOf(() => connectQueueManager({ port, secret: 'not-the-secret-at-all' }));
  t.equal(wrong.code, 'E_NOT_AUTHORIZED');
  t.equal((await errorOf(() => connectQueueManager({ port }))).code, 'E_NOT_AUTHORIZED');
  const right = await connectQueueManager({ port, secret: SECRET });
  t.equal(right.personality, 'mq');
  right.close();
});

t.test('listening beyond 127.0.0.1 needs a shared secret or TLS', async (t) => {
  const { controller } = await mountFresh(t);
  const refused = await errorOf(() => controller.listen({ host: '0.0.0.0', port: 0 }));
  t.equal(refused.code, 'E_INVALID_ARGUMENT');
  t.match(refused.message, /needs a shared secret .* or TLS/);
  const qmRefused = await errorOf(() => startQm(t, controller, { name: 'QM1', personality: 'mq',
    listen: { host: '0.0.0.0' } }));
  t.equal(qmRefused.code, 'E_INVALID_ARGUMENT');
  const short = await errorOf(() => controller.listen({ port: 0, secret: 'short' }));
  t.match(short.message, /at least 16 characters/);
  const guarded = await controller.listen({ host: '0.0.0.0', port: 0, secret: SECRET });
  t.equal(guarded.host, '0.0.0.0');
});

t.test('a queue manager listener can serve TLS', { skip: noOpenssl }, async (t) => {
  const dir = testDir(t);
  const key = join(dir, 'key.pem');
  const cert = join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key,
    '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext',
    'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
  const { controller } = await mountFresh(t);
  await controller.defineQueue('Q1');
  const qm = await startQm(t, controller, { name: 'QMT', personality: 'mq',
    listen: { host: '0.0.0.0', port: 0, tls: { key: readFileSync(key), cert: readFileSync(cert) } } });
  const port = qm.address?.port ?? 0;
  const app = await connectQueueManager({ port, tls: { ca: readFileSync(cert),
    servername: 'localhost' } }) as MqConnection;
  await app.put('Q1', { body: 'over TLS' });
  t.equal((await app.get('Q1')).body.toString(), 'over TLS');
  app.close();
  const plain = await errorOf(() => connectQueueManager({ port, connectTimeoutMs: 3_000 }));
  t.ok(['E_CONNECTION_BROKEN', 'E_BAD_FRAME'].includes(plain.code),
    `a plain TCP hello to a TLS listener fails (${plain.code})`);
  // With `ca`, the listener asks for a client certificate it signed (mutual TLS).
  const mutual = await startQm(t, controller, { name: 'QMM', personality: 'mq',
    listen: { port: 0, tls: { key: readFileSync(key), cert: readFileSync(cert),
      ca: readFileSync(cert) } } });
  const mutualPort = mutual.address?.port ?? 0;
  const anonymous = await errorOf(() => connectQueueManager({ port: mutualPort,
    connectTimeoutMs: 3_000, tls: { ca: readFileSync(cert), servername: 'localhost' } }));
  t.equal(anonymous.code, 'E_CONNECTION_BROKEN', 'a client without a certificate is refused');
  const known = await connectQueueManager({ port: mutualPort, tls: { ca: readFileSync(cert),
    key: readFileSync(key), cert: readFileSync(cert), servername: 'localhost' } });
  t.equal(known.queueManager, 'QMM', 'a client with a certificate the ca signed is served');
  known.close();
});

/** Starts the remote queue manager fixture; resolves with its application port. */
function startRemote(args: string[]): Promise<{ child: ChildProcess; port: number }> {
  return new Promise((resolve, reject) => {
    const child = spawnFixture('remote-queue-manager.ts', args);
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no ready line: ${err}`)), 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = /^ready (\d+)\n/.exec(out);
      if (match !== null) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]) });
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`remote queue manager exited (${code}): ${err}`));
    });
  });
}

t.test('a queue manager in another process joins over TCP; killed, its work is backed out',
  async (t) => {
    const { controller } = await mountFresh(t);
    await controller.defineQueue('Q1', { defaultPersistent: true });
    const listener = await controller.listen({ port: 0, secret: SECRET });
    const joined = nextEvent<{ name: string }>(controller.members.events, 'member-joined');
    const { child, port } = await startRemote([String(listener.port), SECRET, 'QMR', 'jms']);
    t.teardown(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    t.equal((await joined).name, 'QMR');
    t.match(controller.members.members(), [{ name: 'QMR', personality: 'jms' }]);

    const app = await connectQueueManager({ port }) as JmsConnection;
    await app.put('Q1', { type: 'text', text: 'committed' });
    await app.put('Q1', { type: 'text', text: 'in flight' }, { syncpoint: true });
    t.equal(controller.queue('Q1').depth, 2, 'the uncommitted put counts in the depth');

    const ended = nextEvent<MemberEnded>(controller.members.events, 'member-ended');
    child.kill('SIGKILL');
    const report = await ended;
    t.equal(report.name, 'QMR');
    t.equal(report.reason, 'E_CONNECTION_BROKEN');
    t.same(await drain(controller, 'Q1'), ['committed']);
    t.equal((await errorOf(() => app.commit())).code, 'E_CONNECTION_BROKEN');
  });

t.test('a member hello with the wrong secret or role is refused', async (t) => {
  const { controller } = await mountFresh(t);
  const listener = await controller.listen({ port: 0, secret: SECRET });
  const badSecret = await errorOf(() => startRemote([String(listener.port), 'wrong-secret-wrong',
    'QMX', 'mq']));
  t.match(badSecret.message, /E_NOT_AUTHORIZED/);
  const app = await errorOf(() => connectQueueManager({ port: listener.port, secret: SECRET }));
  t.equal(app.code, 'E_NOT_AUTHORIZED', 'an application may not connect to the controller');
  t.match(app.message, /applications connect to a queue manager/);
});
