/**
 * Crash-point sweeps (reliability anchor RA-01): a seeded workload runs over the
 * fault-injecting LUN, which crashes before its k-th write or sync, for every k the workload
 * reaches, and for every way of damaging the writes that were not yet synced. Each crashed LUN
 * is reopened on the real device and checked: no acknowledged record lost, no phantom or
 * duplicate, no released record back, every slot at an acknowledged or in-flight image, and
 * recovery always succeeds. A negative control (a disk whose fdatasync lies, so appends are
 * acknowledged before anything is durable) must make the same checker report losses.
 */
import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';

import t from 'tap';

import { Lun, isSanmqError, type CrashMode, type LunStats } from '../src/index.js';
import {
  check, clean, emptyHistory, runWorkload, type Profile, type Verdict,
} from './helpers/workload.js';

const GEOMETRY = { sizeBytes: 3 * 1024 * 1024, segmentBytes: 64 * 1024, casSlots: 4 };
// Deterministic flush composition: no background prefill, no gathering delay.
const QUIET = { prefillSegmentsAhead: 0, gatherUs: 0, spinUs: 0 };
const WAVES: Record<Profile, number> = { append: 30, mixed: 60, slots: 40 };

async function template(dir: string): Promise<string> {
  const path = join(dir, 'template.img');
  await Lun.format(path, GEOMETRY);
  return path;
}

/** Mutations (writes + syncs) a run makes when nothing crashes. */
async function mutationsOf(templatePath: string, dir: string, profile: Profile, seed: number) {
  const path = join(dir, 'baseline.img');
  await copyFile(templatePath, path);
  const lun = await Lun.open(path, { ...QUIET, faults: { seed } });
  await runWorkload(lun, { seed, waves: WAVES[profile], profile });
  const { mutations } = lun.faults!.counters();
  const stats = lun.stats();
  await lun.close();
  return { mutations, stats };
}

interface SweepResult {
  stats: LunStats;
  runs: number;
  failures: Array<{ k: number; verdict?: Verdict; error?: string }>;
  lostRuns: number;
}

async function sweep(
  dir: string,
  templatePath: string,
  profile: Profile,
  mode: CrashMode,
  seed: number,
  lyingSync = false,
  sectorBytes = 512,
): Promise<SweepResult> {
  const { mutations: total, stats } = await mutationsOf(templatePath, dir, profile, seed);
  const result: SweepResult = { stats, runs: 0, failures: [], lostRuns: 0 };
  const path = join(dir, `sweep-${profile}-${mode}.img`);
  for (let k = 1; k <= total + 1; k++) {
    await copyFile(templatePath, path);
    let history = emptyHistory();
    try {
      const lun = await Lun.open(path, {
        ...QUIET,
        faults: { seed: seed * 1000 + k, crashAtMutation: k, crashMode: mode, sectorBytes, lyingSync },
      });
      history = await runWorkload(lun, { seed, waves: WAVES[profile], profile });
      if (!lun.faults!.counters().crashed) lun.faults!.crash(mode);
      await lun.close();
    } catch (error) {
      // Opening writes too (the writer's identity): a crash there leaves nothing acknowledged.
      if (!isSanmqError(error, 'E_CRASHED')) throw error;
    }
    result.runs++;
    let reopened: Lun | undefined;
    try {
      reopened = await Lun.open(path, QUIET);
      const verdict = await check(reopened, history);
      if (verdict.lost.length > 0) result.lostRuns++;
      if (!clean(verdict)) result.failures.push({ k, verdict });
      // Recovery leaves a LUN that takes new appends and recovers again.
      await reopened.append(1, Buffer.from('after recovery'));
      await reopened.close();
      reopened = await Lun.open(path, QUIET);
    } catch (error) {
      result.failures.push({ k, error: String(error) });
    } finally {
      if (reopened !== undefined && !reopened.closed) await reopened.close();
    }
  }
  return result;
}

const profiles: Array<{ profile: Profile; modes: CrashMode[]; seed: number }> = [
  { profile: 'append', modes: ['drop', 'tear', 'trash'], seed: 11 },
  { profile: 'mixed', modes: ['drop', 'apply', 'partial', 'tear', 'trash'], seed: 23 },
  { profile: 'slots', modes: ['drop', 'tear', 'trash'], seed: 37 },
];

for (const { profile, modes, seed } of profiles) {
  for (const mode of modes) {
    t.test(`a crash at every write and sync of the ${profile} workload, unsynced writes ` +
      `${mode === 'apply' ? 'applied' : mode === 'drop' ? 'dropped' : mode === 'partial' ? 'partly applied' : mode === 'tear' ? 'torn at 512-byte sectors' : 'trashed with garbage'}, ` +
      'loses nothing acknowledged and invents nothing', async (t) => {
      const dir = t.testdir();
      const templatePath = await template(dir);
      const result = await sweep(dir, templatePath, profile, mode, seed);
      t.ok(result.runs > 40, `swept ${result.runs} crash points`);
      if (profile === 'mixed') {
        t.ok(result.stats.moves > 0 && result.stats.frees > 0 && result.stats.releases > 0,
          'the workload releases, compacts and frees segments');
      }
      t.same(result.failures, [], 'every crash point recovers clean');
    });
  }
}

t.test('a crash tearing 4096-byte sectors of the mixed workload loses nothing', async (t) => {
  const dir = t.testdir();
  const templatePath = await template(dir);
  const result = await sweep(dir, templatePath, 'mixed', 'tear', 41, false, 4096);
  t.ok(result.runs > 40);
  t.same(result.failures, []);
});

t.test('the checker flags losses when fdatasync lies (negative control)', async (t) => {
  const dir = t.testdir();
  const templatePath = await template(dir);
  const result = await sweep(dir, templatePath, 'append', 'drop', 53, true);
  t.ok(result.lostRuns > result.runs / 2,
    `acknowledged records were lost in ${result.lostRuns} of ${result.runs} runs`);
});
