/**
 * A LUN after close(): every method fails with E_CLOSED (promise-returning ones reject, the
 * synchronous ones throw), a second close rejects, slot attachments behave the same, and the
 * appends in flight when close is called are completed, durably, before close resolves.
 */
import t, { type Test } from 'tap';

import { Lun, SanmqError } from '../src/index.js';
import { freshLun, outcomeOf } from './helpers/lun.js';

async function expectClosed(
  t: Test,
  call: () => unknown,
  kind: 'threw' | 'rejected',
  message = 'the LUN is closed',
): Promise<void> {
  const result = await outcomeOf(call);
  t.equal(result.kind, kind, kind === 'threw' ? 'it throws' : 'it rejects');
  t.ok(result.error instanceof SanmqError, `the error is a SanmqError (${String(result.error)})`);
  t.equal((result.error as { code?: unknown } | undefined)?.code, 'E_CLOSED');
  t.equal((result.error as Error | undefined)?.message, message);
}

async function closedLun(t: Test, options = {}): Promise<{ lun: Lun; address: number }> {
  const { path } = await freshLun(t);
  const writer = await Lun.open(path);
  const [address] = await writer.append(1, Buffer.from('before close'));
  await writer.close();
  const lun = await Lun.open(path, options);
  await lun.close();
  return { lun, address: address ?? -1 };
}

const slotImage = Buffer.alloc(256);
const rejecting: Array<[string, (lun: Lun, address: number) => unknown]> = [
  ['append', (lun) => lun.append(1, Buffer.from('x'))],
  ['release', (lun, address) => lun.release([address])],
  ['read', (lun, address) => lun.read(address)],
  ['records', (lun) => lun.records(1).next()],
  ['compact', (lun) => lun.compact()],
  ['measureDisk', (lun) => lun.measureDisk({ durationMs: 10 })],
  ['slots.read', (lun) => lun.slots.read(0)],
  ['slots.cas', (lun) => lun.slots.cas(0, slotImage, slotImage)],
  ['close', (lun) => lun.close()],
];

for (const [name, call] of rejecting) {
  t.test(`${name} after close rejects E_CLOSED`, async (t) => {
    const { lun, address } = await closedLun(t);
    t.equal(lun.closed, true);
    await expectClosed(t, () => call(lun, address), 'rejected');
  });
}

for (const name of ['space', 'stats'] as const) {
  t.test(`${name}() after close throws E_CLOSED`, async (t) => {
    const { lun } = await closedLun(t);
    await expectClosed(t, () => lun[name](), 'threw');
  });
}

t.test('append on a closed read-only LUN rejects E_CLOSED, not E_READ_ONLY', async (t) => {
  const { lun } = await closedLun(t, { readOnly: true });
  await expectClosed(t, () => lun.append(1, Buffer.from('x')), 'rejected');
  await expectClosed(t, () => lun.read(0), 'rejected');
});

const faultCalls: Array<[string, (lun: Lun) => unknown]> = [
  ['faults.counters()', (lun) => lun.faults?.counters()],
  ['faults.crash()', (lun) => lun.faults?.crash('drop')],
  ['faults.flipBit()', (lun) => lun.faults?.flipBit(0, 0)],
  ['faults.failAt()', (lun) => lun.faults?.failAt({ io: 1 })],
];

for (const [name, call] of faultCalls) {
  t.test(`${name} on a closed fault-injecting LUN throws a SanmqError E_CLOSED`, async (t) => {
    const { lun } = await closedLun(t, { faults: { seed: 3 } });
    t.ok(lun.faults, 'the LUN has a fault injector');
    await expectClosed(t, () => call(lun), 'threw');
  });
}

t.test('an append made while close is in progress rejects E_CLOSED', async (t) => {
  const { path } = await freshLun(t);
  const lun = await Lun.open(path);
  const closing = lun.close();
  await expectClosed(t, () => lun.append(1, Buffer.from('too late')), 'rejected');
  await closing;
});

t.test('a closed attachment rejects read, cas and a second close with E_CLOSED', async (t) => {
  const { path } = await freshLun(t);
  const attached = await Lun.attach(path);
  await attached.close();
  await expectClosed(t, () => attached.read(0), 'rejected');
  await expectClosed(t, () => attached.cas(0, slotImage, slotImage), 'rejected');
  await expectClosed(t, () => attached.close(), 'rejected', 'the attachment is closed');
});

t.test('the slot table of a closed LUN stays closed while an attachment is open', async (t) => {
  const { path } = await freshLun(t);
  const lun = await Lun.open(path);
  const attached = await Lun.attach(path);
  await lun.close();
  await expectClosed(t, () => lun.slots.read(0), 'rejected');
  t.equal((await attached.read(0)).length, 256, 'the attachment still reads');
  await attached.close();
});

/** Appends `count` records and closes; reports the order in which everything settled. */
async function appendThenClose(t: Test, count: number, letWriterSeeThem: boolean) {
  const { path } = await freshLun(t);
  const lun = await Lun.open(path);
  const events: string[] = [];
  const records = Array.from({ length: count }, (_, i) => Buffer.from(`in flight ${i}`));
  const appends = records.map((record, i) =>
    lun.append(1, record).then(
      (addresses) => {
        events.push(`append ${i}`);
        return addresses;
      },
      (error: unknown) => {
        events.push(`append ${i} failed: ${String(error)}`);
        throw error;
      }));
  if (letWriterSeeThem) await new Promise((resolve) => setImmediate(resolve));
  await lun.close();
  events.push('close');
  const settled = await Promise.allSettled(appends);
  return { path, events, settled, records };
}

for (const letWriterSeeThem of [false, true]) {
  const when = letWriterSeeThem ? 'after the writer took them' : 'in the same tick as close';
  t.test(`64 appends made ${when} resolve before close resolves and are durable`, async (t) => {
    const { path, events, settled, records } = await appendThenClose(t, 64, letWriterSeeThem);
    t.same(settled.filter((s) => s.status === 'rejected').map((s) => String(s.reason)), [],
      'no append rejected');
    t.equal(events.indexOf('close'), 64, 'close resolved after all 64 appends');
    const reopened = await Lun.open(path);
    t.teardown(() => reopened.close());
    t.equal(reopened.recovery.liveRecords, 64);
    for (let i = 0; i < settled.length; i++) {
      const result = settled[i];
      if (result?.status !== 'fulfilled') continue;
      const address = result.value[0] ?? -1;
      t.same(await reopened.read(address), records[i], `record ${i} is on the LUN`);
    }
  });
}

t.test('a read and a slot swap in flight when close is called settle, and the LUN stays whole',
  async (t) => {
    const { path, geometry } = await freshLun(t);
    const lun = await Lun.open(path);
    const [address] = await lun.append(1, Buffer.from('read me'));
    const zero = Buffer.alloc(geometry.casSlotBytes);
    const one = Buffer.alloc(geometry.casSlotBytes, 1);
    const read = outcomeOf(() => lun.read(address ?? -1));
    const cas = outcomeOf(() => lun.slots.cas(2, zero, one));
    await lun.close();
    const expected = { read: Buffer.from('read me'), cas: true };
    for (const [name, result] of [['read', await read], ['cas', await cas]] as const) {
      if (result.kind === 'rejected') {
        t.equal((result.error as SanmqError).code, 'E_CLOSED', `${name} rejected E_CLOSED`);
      } else {
        t.equal(result.kind, 'resolved', `${name} resolved`);
        t.same(result.value, expected[name], `${name} resolved with the right value`);
      }
    }
    const reopened = await Lun.open(path);
    t.teardown(() => reopened.close());
    t.same(await reopened.read(address ?? -1), Buffer.from('read me'));
    const slot = await reopened.slots.read(2);
    t.ok(slot.equals(zero) || slot.equals(one), 'the slot holds one image or the other');
  });
