/**
 * Descriptor blocks are kept in two copies that agree at rest: an update writes one copy and
 * the next flush mirrors it to the other; a copy found damaged or a version behind at open is
 * rewritten by the writer's first flush.
 */
import t from 'tap';

import { Lun } from '../src/index.js';
import { flipBit, freshLun, readBytes } from './helpers/lun.js';

async function copies(path: string, offset: number, blockBytes: number) {
  return [await readBytes(path, offset, blockBytes),
    await readBytes(path, offset + blockBytes, blockBytes)] as const;
}

t.test('after appends and a close both copies of a descriptor block agree', async (t) => {
  const { path, geometry } = await freshLun(t);
  const lun = await Lun.open(path, { prefillSegmentsAhead: 0 });
  await lun.append(1, Buffer.alloc(50_000, 1));
  await lun.append(2, Buffer.alloc(50_000, 2));
  await lun.close();
  const [a, b] = await copies(path, geometry.descriptorRegionOffset, geometry.blockBytes);
  // The checksums differ (they cover each copy's own offset); everything after them agrees.
  t.same(a.subarray(4), b.subarray(4), 'same version, same descriptors');
});

t.test('a damaged descriptor copy is reported and rewritten at the next open', async (t) => {
  const { path, geometry } = await freshLun(t);
  const first = await Lun.open(path, { prefillSegmentsAhead: 0 });
  const [address] = await first.append(1, Buffer.alloc(1000, 7));
  await first.close();
  await flipBit(path, geometry.descriptorRegionOffset + geometry.blockBytes + 200, 3);
  const second = await Lun.open(path, { prefillSegmentsAhead: 0 });
  t.equal(second.recovery.descriptorCopiesBehind, 1, 'the damaged copy is counted');
  t.same(await second.read(address as number), Buffer.alloc(1000, 7));
  await second.close();
  const third = await Lun.open(path, { readOnly: true });
  t.equal(third.recovery.descriptorCopiesBehind, 0, 'both copies agree again');
  await third.close();
});
