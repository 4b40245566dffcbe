/**
 * The core suite over a LUN in a regular file, through the page cache and with O_DIRECT.
 */
import t from 'tap';

import { freshLun, SMALL } from './helpers/lun.js';
import { coreSuite } from './suites/core-suite.js';

for (const direct of [false, true]) {
  t.test(direct ? 'on a file with O_DIRECT' : 'on a file', async (t) => {
    coreSuite(t, {
      create: async (t, options) =>
        (await freshLun(t, { ...options, sizeBytes: SMALL.sizeBytes as number, direct })).path,
      open: { direct },
    });
  });
}
