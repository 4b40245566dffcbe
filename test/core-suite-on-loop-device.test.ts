/**
 * The core suite over loop devices: a sparse file attached with direct I/O, with 512-byte and
 * 4096-byte logical sectors, opened with and without O_DIRECT, formatted to the device's size
 * or to a given size. Needs root and /dev/loop-control; skipped with the reason otherwise. Each
 * test gets its own device, and exactly that device is detached when the test ends.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import t, { type Test } from 'tap';

import { Lun, type FormatOptions } from '../src/index.js';
import { testDir } from './helpers/lun.js';
import { coreSuite } from './suites/core-suite.js';

const backingBytes = 48 * 1024 * 1024;

function unavailable(): string | undefined {
  if (process.platform !== 'linux') return 'loop devices need Linux';
  if (process.getuid?.() !== 0) return 'loop devices need root (process.getuid() is not 0)';
  if (!existsSync('/dev/loop-control')) return '/dev/loop-control does not exist';
  try {
    execFileSync('losetup', ['--version'], { stdio: 'ignore' });
  } catch {
    return 'losetup (util-linux) is not installed';
  }
  return undefined;
}

/** Attaches a fresh sparse file; detaches exactly that device when `t` ends. */
async function attach(t: Test, sectorBytes: number): Promise<string> {
  const backing = join(testDir(t), 'backing.img');
  await writeFile(backing, '');
  await truncate(backing, backingBytes);
  const sector = sectorBytes === 512 ? [] : ['--sector-size', String(sectorBytes)];
  const device = execFileSync('losetup',
    ['--find', '--show', '--direct-io=on', ...sector, backing], { encoding: 'utf8' }).trim();
  if (!/^\/dev\/loop\d+$/.test(device)) throw new Error(`losetup printed ${device}`);
  t.teardown(() => {
    execFileSync('losetup', ['--detach', device]);
  });
  const logical = execFileSync('blockdev', ['--getss', device], { encoding: 'utf8' }).trim();
  if (logical !== String(sectorBytes)) {
    throw new Error(`${device} has ${logical}-byte sectors, not ${sectorBytes}`);
  }
  return device;
}

const reason = unavailable();
const variants = [
  { sectorBytes: 512, direct: true, sizeBytes: undefined },
  { sectorBytes: 512, direct: false, sizeBytes: 32 * 1024 * 1024 },
  { sectorBytes: 4096, direct: true, sizeBytes: 32 * 1024 * 1024 },
  { sectorBytes: 4096, direct: false, sizeBytes: undefined },
];

for (const { sectorBytes, direct, sizeBytes } of variants) {
  const name = `on a loop device with ${sectorBytes}-byte sectors` +
    `${direct ? ', O_DIRECT' : ''}, formatted to ${sizeBytes ?? 'the device size'}`;
  t.test(name, reason === undefined ? {} : { skip: reason }, async (t) => {
    coreSuite(t, {
      create: async (t, options: FormatOptions) => {
        const device = await attach(t, sectorBytes);
        const geometry = await Lun.format(device,
          { ...options, direct, ...(sizeBytes === undefined ? {} : { sizeBytes }) });
        t.equal(geometry.sizeBytes, sizeBytes ?? backingBytes, 'formatted to the intended size');
        return device;
      },
      open: { direct },
    });
  });
}
