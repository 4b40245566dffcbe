/**
 * The core suite over the fault-injecting device with nothing armed: it keeps unsynced writes
 * in memory and applies them at fdatasync, and must behave exactly like the real storage.
 * (realSync stays false: no crash happens, so the file under it need not be synced.)
 */
import t from 'tap';

import { freshLun, SMALL } from './helpers/lun.js';
import { coreSuite } from './suites/core-suite.js';

for (const seed of [1, 2]) {
  t.test(`on the fault-injecting device, seed ${seed}`, async (t) => {
    coreSuite(t, {
      create: async (t, options) =>
        (await freshLun(t, { ...options, sizeBytes: SMALL.sizeBytes as number })).path,
      open: { faults: { seed } },
    });
  });
}
