/**
 * The benchmark driver. `npm run bench -- <name> [options]` runs one named benchmark:
 *
 *   core   The storage core on one LUN, in one run: first the disk's own limits measured
 *          through the LUN's file descriptor in its free segments (4 KiB write + fdatasync
 *          per operation into blocks written before; 1 MiB writes + fdatasync each; and
 *          4 KiB first writes into holes), then durable appends of 1 KiB records with 1 and
 *          with 64 concurrent appenders and of 64 KiB records with 16, each as a ratio to
 *          the matching disk limit, with latency percentiles; then the recovery scan: about
 *          a gigabyte of log written, the LUN closed, the page cache dropped (root only) and
 *          the LUN reopened, reporting the scan's rate.
 *   queue  The controller on one LUN (bench/queue.ts): the disk's limits, then persistent
 *          1 KiB put+commit and get+commit with 1 and 64 connections and 64 KiB put+commit
 *          with 16, as ratios to those limits with latency percentiles; then a deep queue of
 *          --deep N messages (default 1,000,000): heap bytes per message and mount time.
 *   qm     Queue managers in worker threads on one LUN (bench/qm.ts): the disk's fdatasync
 *          rate, then persistent 1 KiB put+commit with 1 and with 64 connections on embedded
 *          sessions and through an mq and a jms queue manager, each as a ratio to the
 *          fdatasync rate and to the embedded figure, with latency percentiles.
 *   failover  A queue-sharing group's sender channel to a remote queue manager in another
 *          process (bench/failover.ts): the disk's fdatasync rate, channel throughput, and
 *          peer recovery time over --failovers N terminations of the owning queue manager
 *          (default 50): p50, p90, p99, max; then lost and duplicated messages at the remote.
 *
 * Options: --lun PATH (default sanmq-data/bench.lun, removed afterwards unless --keep),
 * --size-gib N (LUN size, default 4), --seconds N (per scenario, default 3), --direct,
 * --only TEXT (scenarios whose name contains TEXT), --spin-us N and --gather-us N (writer
 * tuning, see OpenOptions).
 * Benchmarks are measurements, not tests: they print figures and never assert.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';

import { core } from './core.js';
import { failover } from './failover.js';
import { qm } from './qm.js';
import { queue } from './queue.js';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      lun: { type: 'string', default: 'sanmq-data/bench.lun' },
      'size-gib': { type: 'string', default: '4' },
      seconds: { type: 'string', default: '3' },
      direct: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      only: { type: 'string' },
      'spin-us': { type: 'string' },
      'gather-us': { type: 'string' },
      deep: { type: 'string', default: '1000000' },
      failovers: { type: 'string', default: '50' },
    },
  });
  const name = positionals[0] ?? 'core';
  const common = {
    lun: resolve(values.lun),
    sizeGiB: Number(values['size-gib']),
    seconds: Number(values.seconds),
    direct: values.direct,
    keep: values.keep,
    only: values.only,
  };
  if (name === 'queue') {
    await queue({ ...common, deepMessages: Number(values.deep) });
  } else if (name === 'qm') {
    await qm(common);
  } else if (name === 'failover') {
    await failover({ ...common, failovers: Number(values.failovers) });
  } else if (name === 'core') {
    await core({
      ...common,
      spinUs: values['spin-us'] === undefined ? undefined : Number(values['spin-us']),
      gatherUs: values['gather-us'] === undefined ? undefined : Number(values['gather-us']),
    });
  } else {
    console.error(`unknown benchmark ${name}; available: core, queue, qm, failover`);
    process.exitCode = 2;
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
