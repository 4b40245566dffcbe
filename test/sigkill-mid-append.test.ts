/**
 * Real process kills (reliability anchor RA-03): a child process appends and releases records
 * on a LUN file with eight concurrent appenders and logs each acknowledgement; the parent
 * kills it with SIGKILL at a random moment, reopens the LUN and checks that every
 * acknowledged record is there with its exact bytes, that no released record came back, and
 * that nothing appears that was never appended. Fifty kills, on the same LUN.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

import t from 'tap';

import { Lun, addressOffset } from '../src/index.js';
import { spawnFixture } from './helpers/lun.js';
import { payload } from './helpers/workload.js';

const KILLS = Number(process.env['SANMQ_SOAK'] ? 1000 : 50);

interface Acked {
  pageSet: number;
  length: number;
  address: number;
  released: boolean;
  /** A release naming it was submitted; it may have become durable. */
  releasing: boolean;
}

function killAfter(path: string, firstId: number, seed: number, delayMs: number) {
  const logPath = `${path}.${firstId}.log`;
  return new Promise<string>((resolve, reject) => {
    const child = spawnFixture('append-until-killed.ts',
      [path, String(firstId), String(seed), logPath]);
    let out = '';
    let err = '';
    let timer: NodeJS.Timeout | undefined;
    const guard = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
      reject(new Error(`the child did not start: ${err}`));
    }, 30_000);
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (timer === undefined && out.startsWith('ready\n')) {
        timer = setTimeout(() => {
          if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
        }, delayMs);
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('exit', (code, signal) => {
      clearTimeout(guard);
      if (timer !== undefined) clearTimeout(timer);
      if (signal === 'SIGKILL') resolve(readFileSync(logPath, 'utf8'));
      else reject(new Error(`the child exited by itself (${code ?? signal}): ${err}`));
    });
  });
}

t.test(`every acknowledged record survives ${KILLS} SIGKILLs of the appending process`, async (t) => {
  const path = join(t.testdir(), 'killed.img');
  await Lun.format(path, { sizeBytes: 96 * 1024 * 1024, segmentBytes: 256 * 1024, casSlots: 4 });
  const acked = new Map<number, Acked>();
  let nextId = 1;
  let seed = 12345;
  let totalAcks = 0;
  let checkedRecords = 0;
  for (let kill = 0; kill < KILLS; kill++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    const delayMs = 20 + (seed % 400);
    const out = await killAfter(path, nextId, seed, delayMs);
    for (const line of out.split('\n')) {
      const [kind, idText, pageSetText, lengthText, addressText] = line.split(' ');
      const id = Number(idText);
      if (kind === 'ack') {
        acked.set(id, {
          pageSet: Number(pageSetText), length: Number(lengthText), address: Number(addressText),
          released: false, releasing: false,
        });
        totalAcks++;
      } else if (kind === 'rel') {
        const entry = acked.get(id);
        if (entry !== undefined) entry.released = true;
      } else if (kind === 'try') {
        const entry = acked.get(id);
        if (entry !== undefined) entry.releasing = true;
      }
    }
    // Ids of the killed child that never printed may be on the LUN: skip past them.
    nextId += 1_000_000;
    const lun = await Lun.open(path);
    const seen = new Set<number>();
    let phantoms = 0;
    let wrong = 0;
    let resurrected = 0;
    for (const pageSet of [1, 2]) {
      for await (const record of lun.records(pageSet)) {
        const id = record.data.length >= 8 ? record.data.readUInt32LE(4) : -1;
        if (id < 0 || id >= nextId || seen.has(id)) {
          phantoms++;
          continue;
        }
        seen.add(id);
        const entry = acked.get(id);
        if (entry === undefined) continue;  // appended, not acknowledged: may or may not be here
        if (entry.released) resurrected++;
        if (entry.pageSet !== pageSet || !record.data.equals(payload(id, entry.length))) wrong++;
      }
    }
    const lostEntries = [...acked].filter(
      ([id, entry]) => !entry.released && !entry.releasing && !seen.has(id));
    const lost = lostEntries.length;
    checkedRecords += seen.size;
    if (lost || phantoms || wrong || resurrected) {
      // Enough to find the cause: where the lost records were and what recovery saw.
      const where = lostEntries.slice(0, 8).map(([id, e]) =>
        `${id}@${addressOffset(e.address)} (page set ${e.pageSet}, segment ` +
        `${Math.floor((addressOffset(e.address) - lun.geometry.logRegionOffset) / lun.geometry.segmentBytes)})`);
      t.fail(`kill ${kill}: lost ${lost}, phantom ${phantoms}, wrong ${wrong}, resurrected ${resurrected}`,
        { lost: where, recovery: lun.recovery, segments: lun.space().segments });
      await lun.close();
      break;
    }
    await lun.close();
    // Forget released records once they are checked absent, and settle the releases the
    // killed child left in doubt by what recovery found: the map stays small and exact.
    for (const [id, entry] of acked) {
      if (entry.released || (entry.releasing && !seen.has(id))) acked.delete(id);
      else entry.releasing = false;
    }
  }
  t.ok(totalAcks > KILLS * 10, `${totalAcks} acknowledgements over ${KILLS} kills`);
  t.ok(checkedRecords > 0, `${checkedRecords} records checked after the kills`);
});
