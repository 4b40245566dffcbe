/**
 * Real process kills of the controller: a child process runs a seeded workload of units of
 * work (four sessions, three queues: commits, backouts, prepares, large spilling units, puts
 * and gets outside syncpoint) and logs every effect before and after it is acknowledged; the
 * parent kills it with SIGKILL after a random 50–400 ms, remounts the LUN and checks that
 * every acknowledged effect is there exactly once, no uncommitted effect is visible, a commit
 * in flight took effect whole or not at all, and the prepared units are in doubt with their
 * gets invisible. It then resolves the units in doubt, checks again and goes on with the next
 * kill on the same LUN (a fresh LUN every ROUNDS_PER_LUN kills), so that recovery meets a
 * growing history; the child compacts once half the LUN is in use, so kills meet compaction
 * too. The seed is printed; SANMQ_SEED=<seed> replays the same kill times and child seeds (the
 * interleavings depend on timing too); tap's --save-fixture keeps the LUNs and logs.
 */
import { join } from 'node:path';

import t from 'tap';

import { Controller, type FormatOptions } from '../src/index.js';
import { killAfterReady } from './helpers/kill.js';
import { testDir } from './helpers/lun.js';
import {
  check, clean, findings, observe, resolveInDoubt, settle,
} from './helpers/unit-checker.js';
import { UnitHistory } from './helpers/unit-history.js';
import { messageIdOf, Random, UNIT_QUEUES } from './helpers/unit-workload.js';

const ROUNDS = Number(process.env['SANMQ_SOAK'] ? 500 : 50);
const ROUNDS_PER_LUN = 10;
// 1 MiB segments: a unit spills once its puts pass 512 KiB (the large units put 2.5 MiB).
const CREATE: FormatOptions = {
  sizeBytes: 64 * 1024 * 1024, segmentBytes: 1024 * 1024, casSlots: 4,
};
const SEED = Number(process.env['SANMQ_SEED'] ?? Math.floor(Math.random() * 2 ** 31));

/** A new LUN with the workload's queues (defined before any kill can come). */
async function freshLun(dir: string, round: number): Promise<string> {
  const path = join(dir, `units-${round}.lun`);
  const controller = await Controller.mount(path, { create: CREATE });
  for (const name of UNIT_QUEUES) await controller.defineQueue(name, { maxDepth: 1_000_000 });
  await controller.unmount();
  return path;
}

/** Runs the workload child on the LUN, kills it `delayMs` after it is ready: its log. */
function killAfter(path: string, logPath: string, args: string[], delayMs: number):
Promise<string> {
  return killAfterReady('unit-workload.ts', [path, logPath, ...args], logPath, delayMs);
}

interface Totals {
  lines: number;
  commits: number;
  inFlight: number;
  inDoubt: number;
  largeCommits: number;
  /** Records the mounts found moved by compaction. */
  movedCopies: number;
}

/** Mounts, checks against the history and returns the settled history (or the findings). */
async function mountAndCheck(path: string, history: UnitHistory) {
  const controller = await Controller.mount(path);
  const observation = await observe(controller);
  const verdict = check(history, observation);
  return { controller, observation, verdict, settled: settle(history, verdict) };
}

function count(text: string, pattern: RegExp): number {
  return text.match(pattern)?.length ?? 0;
}

interface Round {
  /** The history to go on with (settled: it starts from what was checked). */
  history: UnitHistory;
  failure: { message: string; details: Record<string, unknown> } | undefined;
}

/** One kill: runs the child, checks the remounted LUN, resolves the units in doubt, checks. */
async function killAndCheck(path: string, dir: string, round: number, history: UnitHistory,
  random: Random, totals: Totals): Promise<Round> {
  const delayMs = 50 + random.below(351);
  const childSeed = random.next();
  const log = join(dir, `round-${round}.log`);
  const text = await killAfter(path, log,
    [String(childSeed), String(1 + round * 1_000_000), `r${round}`], delayMs);
  history.applyLog(text);
  totals.lines += count(text, /\n/g);
  totals.commits += count(text, /^commit-ok /gm);
  totals.largeCommits += count(text, /^commit-begin \S+ puts=(\d+,){39}\d+ /gm);
  totals.inFlight += history.uncertain().length;
  const context = { seed: SEED, round, delayMs, childSeed, lun: path, log };
  const first = await mountAndCheck(path, history);
  const controller = first.controller;
  try {
    if (!clean(first.verdict)) {
      const details = { ...context, findings: findings(first.verdict),
        mount: controller.mountReport };
      return { history, failure: { message: 'the remounted controller differs from the log',
        details } };
    }
    totals.inDoubt += first.observation.inDoubt.size;
    totals.movedCopies += controller.mountReport.lun.movedCopies;
    await resolveInDoubt(controller, first.settled, random);
    const verdict = check(first.settled, await observe(controller));
    if (!clean(verdict)) {
      return { history, failure: { message: 'resolving the units in doubt went wrong',
        details: { ...context, findings: findings(verdict) } } };
    }
    return { history: settle(first.settled, verdict), failure: undefined };
  } finally {
    await controller.unmount();
  }
}

t.test(`every acknowledged unit of work survives ${ROUNDS} SIGKILLs of the controller's ` +
  'process whole, and nothing uncommitted appears', async (t) => {
  t.comment(`seed ${SEED} (SANMQ_SEED=${SEED} replays it)`);
  const dir = testDir(t);
  const random = new Random(SEED);
  const totals: Totals = { lines: 0, commits: 0, inFlight: 0, inDoubt: 0, largeCommits: 0,
    movedCopies: 0 };
  let history = new UnitHistory();
  let path = '';
  for (let round = 0; round < ROUNDS; round++) {
    if (round % ROUNDS_PER_LUN === 0) {
      path = await freshLun(dir, round);
      history = new UnitHistory();
    }
    const result = await killAndCheck(path, dir, round, history, random, totals);
    if (result.failure !== undefined) {
      t.fail(`round ${round}: ${result.failure.message}`, result.failure.details);
      break;
    }
    history = result.history;
  }
  t.comment(`${totals.lines} log lines, ${totals.commits} acknowledged commits ` +
    `(${totals.largeCommits} of spilled units), ${totals.inFlight} units in flight at the ` +
    `kills, ${totals.inDoubt} units in doubt after remounts, ${totals.movedCopies} records ` +
    'moved by compaction');
  t.ok(totals.commits > ROUNDS * 5, 'the workload committed units in every round');
  t.ok(totals.largeCommits > 0, 'spilled units committed');
  t.ok(totals.inFlight > ROUNDS / 2, 'the kills caught units in flight');
  t.ok(totals.inDoubt > 0, 'remounts found units in doubt');
});

t.test('the checker reports an acknowledged commit\'s put removed outside the log ' +
  '(negative control)', async (t) => {
  const dir = testDir(t);
  const path = await freshLun(dir, 1000);
  const history = new UnitHistory();
  history.applyLog(await killAfter(path, join(dir, 'control.log'),
    [String(SEED), '1', 'control'], 300));
  const { controller, verdict } = await mountAndCheck(path, history);
  t.ok(clean(verdict), 'the run itself checks clean');
  const victim = [...history.messages.values()].find((message) =>
    history.units.get(message.putBy)?.stage === 'committed' && message.persistent &&
    message.getters.length === 0);
  t.ok(victim !== undefined, 'an acknowledged commit put a message that is still queued');
  if (victim !== undefined) {
    const session = controller.session();
    await session.get(victim.queue, { messageId: messageIdOf(victim.id) });
    await session.close();
  }
  await controller.unmount();
  const again = await Controller.mount(path);
  try {
    const after = check(history, await observe(again));
    t.same(after.lost, victim === undefined ? [] : [victim.id], 'the checker names the loss');
    t.notOk(clean(after), 'the verdict is not clean');
  } finally {
    await again.unmount();
  }
});
