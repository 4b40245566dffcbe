/**
 * `sanmq info` and `sanmq check`: a LUN read offline (opened read-only, with salvage, so that
 * damage is listed rather than refused): geometry, what the recovery scan found, segments and
 * live bytes, the catalog's queues (with the depth of committed persistent messages) and
 * channels, and the units of work left in doubt. `check` also reads back every live record,
 * verifying its checksum, and decodes every controller record; anything wrong is listed with
 * its address.
 */
import { stat } from 'node:fs/promises';

import { SanmqError } from '../errors.js';
import { CliError, EXIT } from './output.js';
import { Lun } from '../storage/lun.js';
import {
  decodeCatalog,
  decodeUnit,
  MESSAGE_HEAD_BYTES,
  RECORD_CHANNEL,
  RECORD_QUEUE,
  RECORD_UNIT,
  readHeadAt,
  UNIT_PREPARED,
} from '../controller/codec.js';
import { PAGE_SET_CATALOG } from '../controller/store.js';
import { PAGE_SET_MESSAGES } from '../controller/compaction-plan.js';

export interface Problem {
  address: number;
  reason: string;
}

export interface LunReport {
  path: string;
  device: 'file' | 'block device';
  geometry: Lun['geometry'];
  recovery: { scanMs: number; scannedBytes: number; liveRecords: number; liveBytes: number;
    tornTails: number; primarySuperblockValid: boolean; backupSuperblockValid: boolean; };
  space: { segmentBytes: number; segmentCount: number; usedSegments: number; freeSegments: number;
    liveBytes: number; liveRecords: number; pageSets: Array<{ pageSet: number; segments: number;
      liveBytes: number; }>; };
  queues: Array<{ name: string; id: number; depth: number; bytes: number }>;
  channels: Array<{ name: string; type: string; statusSlot: number }>;
  inDoubt: Array<{ xid: string; messages: number }>;
  /** Records read back and verified (check only). */
  verifiedRecords: number;
  verifiedBytes: number;
  problems: Problem[];
}

export interface InspectOptions {
  /** Read back every live record (check). */
  verify?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export async function inspectLun(path: string, options: InspectOptions = {}): Promise<LunReport> {
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) throw new CliError(`${path}: no such file or block device`, EXIT.notFound, 'E_NOT_FOUND');
  const lun = await Lun.open(path, { readOnly: true, salvage: true });
  try {
    const recovery = lun.recovery;
    const space = lun.space();
    const problems: Problem[] = recovery.corruptions.map((c) => ({ address: c.address, reason: c.reason }));
    for (const torn of recovery.tornTails) {
      problems.push({ address: torn.address, reason: `torn tail of page set ${torn.pageSet} ` +
        `(${torn.bytes} bytes; an unacknowledged write cut by a crash, dropped at the next mount)` });
    }
    if (!recovery.primarySuperblockValid) problems.push({ address: 0, reason: 'the primary superblock is damaged' });
    if (!recovery.backupSuperblockValid) problems.push({ address: 0, reason: 'the backup superblock is damaged' });
    const pageSets = new Map<number, { segments: number; liveBytes: number }>();
    for (const segment of space.segments) {
      if (segment.pageSet < 0) continue;
      const entry = pageSets.get(segment.pageSet) ?? { segments: 0, liveBytes: 0 };
      entry.segments++;
      entry.liveBytes += segment.liveBytes;
      pageSets.set(segment.pageSet, entry);
    }
    const report: LunReport = {
      path, device: info.isBlockDevice() ? 'block device' : 'file', geometry: lun.geometry,
      recovery: { scanMs: recovery.scanMs, scannedBytes: recovery.scannedBytes,
        liveRecords: recovery.liveRecords, liveBytes: recovery.liveBytes,
        tornTails: recovery.tornTails.length, primarySuperblockValid: recovery.primarySuperblockValid,
        backupSuperblockValid: recovery.backupSuperblockValid },
      space: { segmentBytes: space.segmentBytes, segmentCount: space.segmentCount,
        usedSegments: space.usedSegments, freeSegments: space.freeSegments,
        liveBytes: space.liveBytes, liveRecords: space.liveRecords,
        pageSets: [...pageSets].sort((a, b) => a[0] - b[0])
          .map(([pageSet, v]) => ({ pageSet, ...v })) },
      queues: [], channels: [], inDoubt: [], verifiedRecords: 0, verifiedBytes: 0, problems,
    };
    await readCatalog(lun, report);
    await readMessages(lun, report);
    if (options.verify === true) await verify(lun, report, [...pageSets.keys()], options.onProgress);
    return report;
  } finally {
    await lun.close();
  }
}

async function readCatalog(lun: Lun, report: LunReport): Promise<void> {
  try {
    for await (const record of lun.records(PAGE_SET_CATALOG)) {
      try {
        const { type, value } = decodeCatalog(record.data);
        if (type === RECORD_QUEUE) {
          report.queues.push({ name: String(value['name']), id: Number(value['id']), depth: 0, bytes: 0 });
        } else if (type === RECORD_CHANNEL) {
          const attributes = value['attributes'] as Record<string, unknown> | undefined;
          report.channels.push({ name: String(value['name']), type: String(attributes?.['type'] ?? ''),
            statusSlot: Number(value['statusSlot']) });
        }
      } catch (error) {
        report.problems.push({ address: record.address, reason: `catalog record: ${(error as Error).message}` });
      }
    }
  } catch (error) {
    report.problems.push(problemOf(error, 'reading the catalog'));
  }
  report.queues.sort((a, b) => (a.name < b.name ? -1 : 1));
  report.channels.sort((a, b) => (a.name < b.name ? -1 : 1));
}

async function readMessages(lun: Lun, report: LunReport): Promise<void> {
  const byId = new Map(report.queues.map((q) => [q.id, q]));
  const units: number[] = [];
  const unitMessages = new Map<number, number>();
  try {
    for await (const batch of lun.heads(PAGE_SET_MESSAGES, MESSAGE_HEAD_BYTES)) {
      const view = new DataView(batch.heads.buffer, batch.heads.byteOffset, batch.heads.byteLength);
      for (let i = 0; i < batch.addresses.length; i++) {
        const address = batch.addresses[i] as number;
        const at = i * MESSAGE_HEAD_BYTES;
        if (batch.heads[at] === RECORD_UNIT) {
          units.push(address);
          continue;
        }
        const head = readHeadAt(view, at);
        if (head === undefined) {
          report.problems.push({ address, reason: `controller record of unknown type ${batch.heads[at]}` });
          continue;
        }
        if (head.unitId !== 0) {
          unitMessages.set(head.unitId, (unitMessages.get(head.unitId) ?? 0) + 1);
          continue;
        }
        const queue = byId.get(head.queueId);
        if (queue !== undefined) {
          queue.depth++;
          queue.bytes += batch.lengths[i] as number;
        }
      }
    }
    for (const address of units) {
      const unit = decodeUnit(await lun.read(address));
      if (unit.state === UNIT_PREPARED) {
        report.inDoubt.push({ xid: unit.xid, messages: (unitMessages.get(unit.unitId) ?? 0) + unit.consumed.length });
      }
    }
  } catch (error) {
    report.problems.push(problemOf(error, 'reading the message heads'));
  }
}

async function verify(lun: Lun, report: LunReport, pageSets: number[],
  onProgress: InspectOptions['onProgress']): Promise<void> {
  const total = report.space.liveBytes;
  for (const pageSet of pageSets.sort((a, b) => a - b)) {
    try {
      for await (const record of lun.records(pageSet)) {
        report.verifiedRecords++;
        report.verifiedBytes += record.data.length;
        if (report.verifiedRecords % 1024 === 0) onProgress?.(report.verifiedBytes, total);
      }
    } catch (error) {
      report.problems.push(problemOf(error, `reading page set ${pageSet}`));
    }
  }
  onProgress?.(report.verifiedBytes, total);
}

function problemOf(error: unknown, what: string): Problem {
  const details = error instanceof SanmqError ? error.details : {};
  const address = typeof details['address'] === 'number' ? details['address'] : -1;
  return { address, reason: `${what}: ${error instanceof Error ? error.message : String(error)}` };
}
