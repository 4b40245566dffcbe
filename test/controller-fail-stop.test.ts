/**
 * Fail-stop of the controller: after a failed write or fdatasync the failing operation rejects
 * with the storage error, every later operation with E_FAILED naming it, and a remount recovers
 * exactly what was acknowledged before the failure.
 */
import t from 'tap';

import { isSanmqError } from '../src/index.js';
import { drain, errorOf, mountFresh } from './helpers/mq.js';

for (const on of ['write', 'sync'] as const) {
  for (const kind of ['eio', 'enospc'] as const) {
    t.test(`a failed ${on} (${kind}) stops the controller and a remount keeps what was acknowledged`,
      async (t) => {
        // No prefill: the writer's background zero-filling would otherwise be the I/O that
        // meets the failure, and the commit would see the LUN's fail-stop (E_FAILED) instead.
        const lun = await mountFresh(t, { lun: { faults: {}, prefillSegmentsAhead: 0 } });
        const { controller } = lun;
        await controller.defineQueue('Q1', { defaultPersistent: true });
        const session = controller.session();
        await session.put('Q1', { body: 'before' }, { syncpoint: true });
        await session.commit();
        controller.lun.faults?.failAt({ io: 1, on, kind, persistent: true });
        await session.put('Q1', { body: 'lost' }, { syncpoint: true });
        const failed = await errorOf(() => session.commit());
        t.equal(failed.code, kind === 'enospc' ? 'E_NO_SPACE' : 'E_IO', 'the commit rejects');
        const after = await errorOf(() => session.put('Q1', { body: 'refused' }));
        t.equal(after.code, 'E_FAILED', 'every later operation is refused');
        t.equal(after.details['cause'], failed.code, 'naming the first error');
        t.ok(isSanmqError(await errorOf(() => controller.session().get('Q1')), 'E_FAILED'));
        const remounted = await lun.remount({});
        // The failed commit's outcome is unknown, as after a crash: all of it or nothing.
        const bodies = await drain(remounted, 'Q1');
        t.equal(bodies[0], 'before', 'the acknowledged commit survives');
        t.ok(bodies.length === 1 || (bodies.length === 2 && bodies[1] === 'lost'),
          `the failed commit is there whole or not at all (${bodies.join(', ')})`);
      });
  }
}
