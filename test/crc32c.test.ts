/**
 * CRC32C as the LUN computes it: the RFC 3720 check values through the public `crc32c`,
 * agreement with an independent JavaScript implementation (@aws-crypto/crc32c) on seeded random
 * data of many lengths and unaligned starts, agreement of the native hardware and portable
 * paths, chaining, and which path this machine is expected to use.
 */
import { readFileSync } from 'node:fs';

import { crc32c as referenceCrc32c } from '@aws-crypto/crc32c';
import t from 'tap';

import { crc32c, crc32cImplementation } from '../src/index.js';
import { binding } from '../src/storage/binding.js';
import { seededBytes } from './helpers/lun.js';

const SEED = 0x5eed_c3c3;

/** Seeded bytes, so a failure reproduces with the printed seed. */
const randomBytes = seededBytes;

const hex = (value: number) => `0x${value.toString(16).padStart(8, '0')}`;

t.test('the RFC 3720 B.4 vectors and "123456789" give their published check values', async (t) => {
  const ascending = Buffer.from(Array.from({ length: 32 }, (_, i) => i));
  const descending = Buffer.from(Array.from({ length: 32 }, (_, i) => 31 - i));
  const vectors: Array<[string, Buffer, number]> = [
    ['32 zero bytes', Buffer.alloc(32, 0x00), 0x8a9136aa],
    ['32 bytes of 0xff', Buffer.alloc(32, 0xff), 0x62a8ab43],
    ['bytes 0..31', ascending, 0x46dd794e],
    ['bytes 31..0', descending, 0x113fdb5c],
    ['"123456789"', Buffer.from('123456789', 'ascii'), 0xe3069283],
  ];
  for (const [name, data, expected] of vectors) {
    t.equal(hex(crc32c(data)), hex(expected), `crc32c of ${name}`);
    t.equal(hex(binding.crc32cPortable(data)), hex(expected), `portable crc32c of ${name}`);
  }
});

t.test('the empty buffer has checksum 0 and leaves a running checksum unchanged', async (t) => {
  t.equal(crc32c(Buffer.alloc(0)), 0);
  t.equal(crc32c(new Uint8Array(0), 0xe3069283), 0xe3069283);
});

t.test('crc32c agrees with @aws-crypto/crc32c on random data of every length 0..600', async (t) => {
  t.comment(`seed ${hex(SEED)}`);
  const source = randomBytes(600, SEED);
  let mismatches = 0;
  for (let length = 0; length <= 600; length++) {
    const data = source.subarray(0, length);
    if (crc32c(data) !== referenceCrc32c(data)) mismatches++;
  }
  t.equal(mismatches, 0, 'no length disagrees');
});

t.test('crc32c agrees with @aws-crypto/crc32c on unaligned subarrays', async (t) => {
  const source = randomBytes(8192 + 64, SEED + 1);
  const lengths = [1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 63, 64, 65, 255, 1000, 4095, 4096, 8192];
  const disagreements: string[] = [];
  const alignments = new Set<number>();
  for (let offset = 0; offset < 16; offset++) {
    for (const length of lengths) {
      const view = source.subarray(offset, offset + length);
      alignments.add(view.byteOffset % 8);
      if (crc32c(view) !== referenceCrc32c(view)) disagreements.push(`${offset}+${length}`);
    }
  }
  t.equal(alignments.size, 8, 'the views start at every alignment modulo 8');
  t.same(disagreements, [], 'every offset and length agrees');
});

t.test('crc32c agrees with @aws-crypto/crc32c on a plain Uint8Array over a shared ArrayBuffer',
  async (t) => {
    const buffer = new ArrayBuffer(4099);
    const whole = new Uint8Array(buffer);
    whole.set(randomBytes(4099, SEED + 2));
    for (const start of [0, 1, 3, 5]) {
      const view = new Uint8Array(buffer, start, 4099 - start - 1);
      t.equal(hex(crc32c(view)), hex(referenceCrc32c(view)), `view from byte ${start}`);
    }
  });

t.test('crc32c agrees with @aws-crypto/crc32c on large buffers', async (t) => {
  for (const length of [65_536, 65_537, 1_048_579]) {
    const data = randomBytes(length, SEED + length);
    t.equal(hex(crc32c(data)), hex(referenceCrc32c(data)), `${length} bytes`);
  }
});

t.test('the hardware and portable native paths agree on every length and alignment', async (t) => {
  const source = randomBytes(1100, SEED + 3);
  let compared = 0;
  const disagreements: string[] = [];
  for (let offset = 0; offset < 8; offset++) {
    for (let length = 0; length <= 1024; length++) {
      const view = source.subarray(offset, offset + length);
      const seed = (length * 0x9e3779b1) >>> 0;
      compared++;
      if (binding.crc32c(view) !== binding.crc32cPortable(view) ||
          binding.crc32c(view, seed) !== binding.crc32cPortable(view, seed)) {
        disagreements.push(`${offset}+${length}`);
      }
    }
  }
  t.equal(compared, 8 * 1025);
  t.same(disagreements, [], 'no offset and length disagrees');
});

t.test('chaining crc32c(b, crc32c(a)) equals crc32c of a followed by b at every split',
  async (t) => {
    const whole = randomBytes(257, SEED + 4);
    const expected = crc32c(whole);
    const wrong: number[] = [];
    for (let split = 0; split <= whole.length; split++) {
      const first = whole.subarray(0, split);
      const second = whole.subarray(split);
      if (crc32c(second, crc32c(first)) !== expected) wrong.push(split);
      if (binding.crc32cPortable(second, binding.crc32cPortable(first)) !== expected) {
        wrong.push(-split - 1);
      }
    }
    t.same(wrong, [], 'every split point chains to the whole');
  });

t.test('chaining over many pieces of a large buffer equals one checksum of the whole',
  async (t) => {
    const whole = randomBytes(200_003, SEED + 5);
    let crc = 0;
    for (let at = 0; at < whole.length; at += 4093) {
      crc = crc32c(whole.subarray(at, at + 4093), crc);
    }
    t.equal(hex(crc), hex(crc32c(whole)));
    t.equal(hex(crc), hex(referenceCrc32c(whole)));
  });

/** What this CPU offers, read from /proc/cpuinfo; undefined where it cannot be told. */
function expectedImplementation(): { expected: 'hardware' | 'portable'; why: string } | undefined {
  let cpuinfo: string;
  try {
    cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
  } catch {
    return undefined;
  }
  const flags = new Set(
    cpuinfo.split('\n')
      .filter((line) => /^(flags|Features)\s*:/.test(line))
      .flatMap((line) => line.split(':')[1]?.trim().split(/\s+/) ?? []),
  );
  if (process.arch === 'x64') {
    return flags.has('sse4_2')
      ? { expected: 'hardware', why: 'x86-64 with sse4_2 in /proc/cpuinfo' }
      : { expected: 'portable', why: 'x86-64 without sse4_2 in /proc/cpuinfo' };
  }
  if (process.arch === 'arm64') {
    return flags.has('crc32')
      ? { expected: 'hardware', why: 'AArch64 with crc32 in /proc/cpuinfo' }
      : { expected: 'portable', why: 'AArch64 without crc32 in /proc/cpuinfo' };
  }
  return { expected: 'portable', why: `${process.arch} has no hardware path` };
}

const cpu = expectedImplementation();
t.test(`crc32cImplementation is '${cpu?.expected ?? '?'}' on this CPU`, {
  skip: cpu === undefined ? '/proc/cpuinfo is unreadable, so the CPU cannot be told' : false,
}, async (t) => {
  if (cpu === undefined) return;
  t.comment(cpu.why);
  t.equal(crc32cImplementation, cpu.expected);
  t.equal(binding.crc32cImplementation, cpu.expected);
});
