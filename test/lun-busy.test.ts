/**
 * One writer per LUN: a second writer, in this process or another, gets E_LUN_BUSY naming the
 * holder (a writer's pid and host, or "a reader"); readers exclude writers and share with each
 * other; the lock goes with close and with the death of its process; slot attachments live
 * beside the writer. Other processes run test/fixtures/lun-open.ts.
 */
import type { ChildProcess } from 'node:child_process';
import { hostname } from 'node:os';

import t, { type Test } from 'tap';

import { Lun, SanmqError } from '../src/index.js';
import { freshLun, spawnFixture } from './helpers/lun.js';

interface OpenReport {
  pid: number;
  opened?: boolean;
  ready?: boolean;
  code?: string;
  message?: string;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The E_LUN_BUSY message that names writer `pid` on this host. */
function busyByWriter(path: string, pid: number): RegExp {
  const host = escape(hostname().slice(0, 47));
  return new RegExp(`^LUN ${escape(path)} is busy: held by pid ${pid} on ${host} ` +
    '\\(open since \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ\\)$');
}

async function openError(promise: Promise<Lun>): Promise<SanmqError> {
  try {
    const lun = await promise;
    await lun.close();
  } catch (error) {
    if (error instanceof SanmqError) return error;
    throw error;
  }
  throw new Error('the open succeeded');
}

/** Resolves with the first JSON line a child prints; rejects if it exits or stays silent. */
function firstReport(child: ChildProcess, timeoutMs = 30_000): Promise<OpenReport> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no report within ${timeoutMs} ms: ${err}`)),
      timeoutMs);
    child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const end = out.indexOf('\n');
      if (end >= 0) {
        clearTimeout(timer);
        resolve(JSON.parse(out.slice(0, end)) as OpenReport);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`the child exited with ${code ?? signal} before reporting: ${err}`));
    });
  });
}

function exited(child: ChildProcess, timeoutMs = 30_000): Promise<number | string> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve(child.exitCode ?? child.signalCode ?? -1);
  }
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no exit within ${timeoutMs} ms`)), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(code ?? signal ?? -1);
    });
  });
}

/** Starts the fixture and kills it by its pid when the test ends, whatever happened. */
function startChild(t: Test, args: string[]): ChildProcess {
  const child = spawnFixture('lun-open.ts', args);
  t.teardown(() => {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid, 'SIGKILL');
    }
  });
  return child;
}

async function tryInChild(t: Test, path: string, readOnly = false): Promise<OpenReport> {
  const child = startChild(t, ['try', path, ...(readOnly ? ['readOnly'] : [])]);
  const report = await firstReport(child);
  t.equal(await exited(child), 0, 'the child exits cleanly');
  return report;
}

t.test('a second Lun.open in the same process gets E_LUN_BUSY naming this pid', async (t) => {
  const { path } = await freshLun(t);
  const writer = await Lun.open(path);
  t.teardown(() => writer.close());
  const error = await openError(Lun.open(path));
  t.equal(error.code, 'E_LUN_BUSY');
  t.match(error.message, busyByWriter(path, process.pid));
});

t.test('a second writer in another process gets E_LUN_BUSY naming the holder pid', async (t) => {
  const { path } = await freshLun(t);
  const writer = await Lun.open(path);
  t.teardown(() => writer.close());
  const report = await tryInChild(t, path);
  t.equal(report.opened, false);
  t.equal(report.code, 'E_LUN_BUSY');
  t.match(report.message, busyByWriter(path, process.pid));
  t.not(report.pid, process.pid);
});

t.test('a writer in this process gets E_LUN_BUSY naming the holder in another process',
  async (t) => {
    const { path } = await freshLun(t);
    const holder = startChild(t, ['hold', path]);
    const ready = await firstReport(holder);
    t.equal(ready.ready, true);
    const error = await openError(Lun.open(path));
    t.equal(error.code, 'E_LUN_BUSY');
    t.match(error.message, busyByWriter(path, holder.pid ?? -1));
  });

t.test('a refused opener does not release the holder lock when it closes its descriptor',
  async (t) => {
    // With process-wide POSIX locks, closing any descriptor of the file would drop the
    // holder's lock; the open-file-description locks the core uses must not.
    const { path } = await freshLun(t);
    const writer = await Lun.open(path);
    t.teardown(() => writer.close());
    t.equal((await openError(Lun.open(path))).code, 'E_LUN_BUSY');
    t.equal((await openError(Lun.open(path, { readOnly: true }))).code, 'E_LUN_BUSY');
    const report = await tryInChild(t, path);
    t.equal(report.code, 'E_LUN_BUSY', 'another process still finds the LUN held');
  });

t.test('a read-only open while a writer holds the LUN gets E_LUN_BUSY naming the writer',
  async (t) => {
    const { path } = await freshLun(t);
    const writer = await Lun.open(path);
    t.teardown(() => writer.close());
    const error = await openError(Lun.open(path, { readOnly: true }));
    t.equal(error.code, 'E_LUN_BUSY');
    t.match(error.message, busyByWriter(path, process.pid));
    const report = await tryInChild(t, path, true);
    t.equal(report.code, 'E_LUN_BUSY', 'a reader in another process is refused too');
    t.match(report.message, busyByWriter(path, process.pid));
  });

t.test('a writer while a read-only reader holds the LUN gets E_LUN_BUSY naming "a reader"',
  async (t) => {
    const { path } = await freshLun(t);
    const reader = await Lun.open(path, { readOnly: true });
    t.teardown(() => reader.close());
    const error = await openError(Lun.open(path));
    t.equal(error.code, 'E_LUN_BUSY');
    t.equal(error.message, `LUN ${path} is busy: held by a reader (a read-only open)`);
    const report = await tryInChild(t, path);
    t.equal(report.code, 'E_LUN_BUSY');
    t.equal(report.message, `LUN ${path} is busy: held by a reader (a read-only open)`);
  });

t.test('two read-only opens share the LUN, in one process and across two', async (t) => {
  const { path } = await freshLun(t);
  const first = await Lun.open(path, { readOnly: true });
  t.teardown(() => first.close());
  const second = await Lun.open(path, { readOnly: true });
  t.equal(second.geometry.uuid, first.geometry.uuid);
  await second.close();
  const report = await tryInChild(t, path, true);
  t.equal(report.opened, true);
});

t.test('format of a LUN a writer holds fails with E_LUN_BUSY, even with force', async (t) => {
  const { path, geometry } = await freshLun(t);
  const writer = await Lun.open(path);
  t.teardown(() => writer.close());
  let error: unknown;
  try {
    await Lun.format(path, { sizeBytes: geometry.sizeBytes, segmentBytes: 65_536, force: true });
  } catch (caught) {
    error = caught;
  }
  t.equal((error as SanmqError | undefined)?.code, 'E_LUN_BUSY');
  t.equal((error as Error | undefined)?.message,
    `${path} is open by a writer or reader; close it first`);
  t.equal(writer.geometry.uuid, geometry.uuid);
});

t.test('after close the LUN opens again, as writer and as reader', async (t) => {
  const { path } = await freshLun(t);
  const first = await Lun.open(path);
  await first.append(1, Buffer.from('kept'));
  await first.close();
  const second = await Lun.open(path);
  t.equal(second.recovery.liveRecords, 1);
  await second.close();
  const reader = await Lun.open(path, { readOnly: true });
  await reader.close();
  const third = await Lun.open(path);
  await third.close();
});

t.test('after the holding process closes the LUN and exits, this process opens it', async (t) => {
  const { path } = await freshLun(t);
  const holder = startChild(t, ['hold', path]);
  t.equal((await firstReport(holder)).ready, true);
  t.equal((await openError(Lun.open(path))).code, 'E_LUN_BUSY', 'held while the child runs');
  process.kill(holder.pid ?? -1, 'SIGTERM');
  t.equal(await exited(holder), 0, 'the child closed the LUN and exited');
  const lun = await Lun.open(path);
  await lun.close();
});

t.test('a holder killed with SIGKILL leaves no lock behind', async (t) => {
  const { path } = await freshLun(t);
  const holder = startChild(t, ['hold', path]);
  t.equal((await firstReport(holder)).ready, true);
  process.kill(holder.pid ?? -1, 'SIGKILL');
  t.equal(await exited(holder), 'SIGKILL');
  const lun = await Lun.open(path);
  t.same(lun.recovery.corruptions, []);
  await lun.close();
});

t.test('Lun.attach works beside a writer and both see each other\'s slot updates', async (t) => {
  const { path, geometry } = await freshLun(t);
  const writer = await Lun.open(path);
  t.teardown(() => writer.close());
  const attached = await Lun.attach(path);
  const zero = Buffer.alloc(geometry.casSlotBytes);
  const one = Buffer.alloc(geometry.casSlotBytes, 1);
  const two = Buffer.alloc(geometry.casSlotBytes, 2);
  t.equal(await attached.cas(3, zero, one), true, 'the attachment swaps');
  t.same(await writer.slots.read(3), one, 'the writer reads the new image');
  t.equal(await writer.slots.cas(3, one, two), true, 'the writer swaps');
  t.same(await attached.read(3), two, 'the attachment reads it');
  const [address] = await writer.append(1, Buffer.from('log still works'));
  t.same(await writer.read(address ?? -1), Buffer.from('log still works'));
  await attached.close();
});

t.test('Lun.attach works beside a writer in another process', async (t) => {
  const { path, geometry } = await freshLun(t);
  const holder = startChild(t, ['hold', path]);
  t.equal((await firstReport(holder)).ready, true);
  const attached = await Lun.attach(path);
  const zero = Buffer.alloc(geometry.casSlotBytes);
  t.equal(await attached.cas(0, zero, Buffer.alloc(geometry.casSlotBytes, 9)), true);
  await attached.close();
  process.kill(holder.pid ?? -1, 'SIGTERM');
  t.equal(await exited(holder), 0);
});
