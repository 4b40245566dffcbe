/**
 * The web console in a real browser (Debian's chromium, driven by playwright-core) against a
 * real mounted controller (`sanmq mount` in a child process) whose group sends over a shared
 * channel to a remote queue manager in another process: every view loads; a test put changes
 * the depth shown; a browse shows the message; killing the member that runs the channel moves
 * the channel to its peer in the channels view; and the page logs no console error.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import t from 'tap';

import { compiledTree } from './helpers/compile.js';
import { testDir } from './helpers/lun.js';
import { startRemoteSite } from './helpers/channels.js';

const CHROMIUM = '/usr/bin/chromium';

const skip = existsSync(CHROMIUM) ? false
  : `${CHROMIUM} is not installed (Debian's chromium; .ci/run installs it)`;

t.test('every view of the console works against a live controller', { skip }, async (t) => {
  const { chromium } = await import('playwright-core');
  const dir = testDir(t);
  const remote = await startRemoteSite(t, { qm: 'REMOTE', queues: ['DEST'],
    channels: [{ name: 'TO.REMOTE', type: 'receiver' }] });
  const lun = join(dir, 'console.lun');
  const config = join(dir, 'sanmq.json');
  await writeFile(config, JSON.stringify({ queueManagers: [{ name: 'QM1', personality: 'mq', port: 0 },
    { name: 'QM2', personality: 'jms', port: 0 }], admin: { port: 0 } }));
  const cli = join(compiledTree(), 'src', 'cli', 'main.js');
  const mount = spawn(process.execPath, [cli, 'mount', lun, '--create', '64MiB', '--config', config, '--json'],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => mount.once('exit', resolve));
  t.teardown(async () => {
    if (mount.exitCode === null && mount.signalCode === null) mount.kill('SIGKILL');
    await exited;
  });
  let out = '';
  const ready = await new Promise<{ admin: { port: number } }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('mount not ready in 30 s')), 30_000);
    mount.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      try {
        resolve(JSON.parse(out) as { admin: { port: number } });
        clearTimeout(timer);
      } catch {
        // not all of it yet
      }
    });
  });
  const base = `http://127.0.0.1:${ready.admin.port}`;
  const mqsc = async (script: string) => {
    const response = await fetch(`${base}/mqsc`, { method: 'POST', body: script });
    const answer = await response.json() as { results: Array<{ ok: boolean; message: string }> };
    t.ok(answer.results.every((r) => r.ok), `${script.split('\n')[0] ?? ''}: ${JSON.stringify(answer.results.map((r) => r.message))}`);
  };
  await mqsc(['DEFINE QLOCAL(ORDERS) DEFPSIST(YES)', 'DEFINE QLOCAL(XMITQ) DEFPSIST(YES)',
    `DEFINE CHANNEL(TO.REMOTE) CHLTYPE(SDR) XMITQ(XMITQ) CONNAME('127.0.0.1(${remote.port})') SHORTTMR(1)`,
    'START CHANNEL(TO.REMOTE)'].join('\n'));

  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', '--disable-gpu'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  const shot = async (name: string) => page.screenshot({ path: join(dir, `${name}.png`), fullPage: true });
  const view = (name: string) => page.click(`nav button[data-view="${name}"]`);

  await page.goto(base);
  await page.waitForSelector('[data-testid="live"]:has-text("live")', { timeout: 15_000 });
  t.match(await page.textContent('[data-testid="lun-path"]'), /console\.lun \(file\)$/);
  t.equal(await page.locator('[data-testid="segments"] .seg').count(), 15, 'a square per segment');
  t.ok(await page.locator('[data-testid="segments"] .seg.live').count() >= 1, 'at least one live segment');
  t.match(await page.textContent('[data-testid="fsync"]'), /^\d+ \/ \d+ µs$/);
  await shot('overview');

  await view('members');
  await page.waitForSelector('[data-testid="member-state-QM1"]:has-text("running")');
  await shot('members');

  await view('queues');
  await page.click('[data-testid="queue-ORDERS"]');
  await page.waitForSelector('[data-testid="detail-name"]:has-text("ORDERS")');
  t.equal(await page.textContent('[data-testid="depth-ORDERS"]'), '0');
  await page.fill('[data-testid="put-text"]', 'hello from the console');
  await page.click('[data-testid="put"]');
  await page.waitForSelector('[data-testid="message"]:has-text("hello from the console")', { timeout: 10_000 });
  await page.waitForSelector('[data-testid="depth-ORDERS"]:has-text("1")', { timeout: 10_000 });
  t.equal(await page.textContent('[data-testid="depth-ORDERS"]'), '1', 'the live feed shows the new depth');
  t.match(await page.textContent('[data-testid="message"]'), /format MQSTR|persistent true/,
    'the browse shows the descriptor');
  page.once('dialog', (dialog) => void dialog.accept());
  await page.click('[data-testid="purge"]');
  await page.waitForSelector('[data-testid="depth-ORDERS"]:has-text("0")', { timeout: 10_000 });
  t.equal(await page.textContent('[data-testid="depth-ORDERS"]'), '0', 'purge, once confirmed, empties the queue');
  await shot('queues');

  await view('channels');
  await page.waitForSelector('[data-testid="channel-status-TO.REMOTE"]:has-text("running")', { timeout: 15_000 });
  const owner = (await page.textContent('[data-testid="channel-owner-TO.REMOTE"]')) ?? '';
  t.ok(owner === 'QM1' || owner === 'QM2', `the channel runs on ${owner}`);
  await shot('channels-before');
  await view('members');
  await page.click(`[data-testid="kill-${owner}"]`);
  await page.waitForSelector(`[data-testid="member-state-${owner}"]:has-text("stopped")`, { timeout: 10_000 });
  await view('channels');
  const peer = owner === 'QM1' ? 'QM2' : 'QM1';
  await page.waitForSelector(`[data-testid="channel-owner-TO.REMOTE"]:has-text("${peer}")`, { timeout: 15_000 });
  await page.waitForSelector('[data-testid="channel-status-TO.REMOTE"]:has-text("running")', { timeout: 15_000 });
  t.equal(await page.textContent('[data-testid="channel-owner-TO.REMOTE"]'), peer,
    `killing ${owner} moved the channel to ${peer}, live`);
  await shot('channels-after');

  await view('units');
  await page.waitForSelector('[data-testid="locks"] tbody tr', { timeout: 10_000 });
  t.match(await page.textContent('[data-testid="locks"]'), /queue:XMITQ/, 'the channel\'s lock on its transmission queue');
  await shot('units');

  t.same(problems, [], 'no console errors');
  mount.kill('SIGTERM');
  t.equal(await exited, 0);
});
