/**
 * The binary MQMD: IBM's offsets checked byte by byte, round trips in both byte orders and in
 * EBCDIC, Latin-1 and UTF-8, the byte swap of every MQLONG, version 1 descriptors, every
 * E_INVALID_ARGUMENT with the field it names, PutDate and PutTime, and a fast-check property
 * over random descriptors.
 */
import assert from 'node:assert/strict';

import fc from 'fast-check';
import t from 'tap';

import { SUPPORTED_CCSIDS } from '../src/qm/mq/convert.js';
import {
  decodeMqmd, defaultMqmd, encodeMqmd, fromPutDateTime, integerEncoding, type IntegerEncoding,
  MQENC_NATIVE_BIG, MQENC_NATIVE_LITTLE, MQMD_BYTES, MQMD_V1_BYTES, MQMT_REQUEST,
  MQPER_PERSISTENT, type Mqmd, putDateTime,
} from '../src/qm/mq/mqmd.js';

/** Offsets of the MQLONGs of a version-2 MQMD, Version included, from IBM's layout. */
const LONG_OFFSETS = [4, 8, 12, 16, 20, 24, 28, 40, 44, 96, 272, 348, 352, 356, 360];

const filled = (width: number, first: number): Buffer =>
  Buffer.from(Array.from({ length: width }, (_, i) => (first + i) & 0xff));

/** A descriptor with every field away from its default; 'é' exists in 37, 819 and 1208. */
function sampleMqmd(): Mqmd {
  return {
    report: 0x0e000000, msgType: MQMT_REQUEST, expiry: 6000, feedback: 258,
    encoding: MQENC_NATIVE_BIG, codedCharSetId: 37, format: 'MQSTR', priority: 7,
    persistence: MQPER_PERSISTENT, msgId: filled(24, 1), correlId: filled(24, 101),
    backoutCount: 3, replyToQ: 'REPLY.Q', replyToQMgr: 'QM2', userIdentifier: 'app',
    accountingToken: filled(32, 201), applIdentityData: 'idé', putApplType: 28,
    putApplName: 'sanmq test', putDate: '20240229', putTime: '13050987',
    applOriginData: 'or', groupId: filled(24, 51), msgSeqNumber: 4, offset: 1000,
    msgFlags: 0x0010, originalLength: -1234,
  };
}

const hexAt = (bytes: Buffer, offset: number, width: number): string =>
  bytes.subarray(offset, offset + width).toString('hex');

t.test('integer encodings come from the low nibble of Encoding', async (t) => {
  t.equal(integerEncoding(MQENC_NATIVE_LITTLE), 'little');
  t.equal(integerEncoding(MQENC_NATIVE_BIG), 'big');
  t.equal(integerEncoding(0x0782), 'little');
  t.equal(integerEncoding(0), undefined);
  t.equal(integerEncoding(0x223), undefined);
});

t.test('the default descriptor is MQMD_DEFAULT with fresh zero ids', async (t) => {
  const md = defaultMqmd();
  t.same([md.report, md.msgType, md.expiry, md.feedback, md.encoding, md.codedCharSetId],
    [0, 8, -1, 0, 546, 0]);
  t.same([md.format, md.priority, md.persistence, md.putApplType], ['', -1, 2, 0]);
  t.same([md.msgSeqNumber, md.offset, md.msgFlags, md.originalLength], [1, 0, 0, -1]);
  t.same([md.msgId, md.correlId, md.groupId], [0, 0, 0].map(() => Buffer.alloc(24)));
  t.same(md.accountingToken, Buffer.alloc(32));
  t.not(md.msgId, defaultMqmd().msgId, 'each call has its own buffers');
});

t.test('fields sit at IBM offsets in a 364-byte big-endian Latin-1 MQMD', async (t) => {
  const bytes = encodeMqmd(sampleMqmd(), 'big', 819);
  t.equal(bytes.length, MQMD_BYTES);
  t.equal(bytes.subarray(0, 4).toString('latin1'), 'MD  ');
  t.equal(hexAt(bytes, 4, 4), '00000002', 'Version');
  t.equal(hexAt(bytes, 8, 4), '0e000000', 'Report');
  t.equal(hexAt(bytes, 28, 4), '00000025', 'CodedCharSetId');
  t.equal(bytes.subarray(32, 40).toString('latin1'), 'MQSTR   ');
  t.equal(hexAt(bytes, 40, 4), '00000007', 'Priority');
  t.same(bytes.subarray(48, 72), filled(24, 1), 'MsgId');
  t.same(bytes.subarray(72, 96), filled(24, 101), 'CorrelId');
  t.equal(bytes.subarray(100, 148).toString('latin1'), 'REPLY.Q'.padEnd(48));
  t.equal(bytes.subarray(148, 196).toString('latin1'), 'QM2'.padEnd(48));
  t.same(bytes.subarray(208, 240), filled(32, 201), 'AccountingToken');
  t.equal(bytes.subarray(240, 272).toString('latin1'), 'idé'.padEnd(32));
  t.equal(bytes.subarray(304, 320).toString('latin1'), '2024022913050987');
  t.equal(bytes.subarray(320, 324).toString('latin1'), 'or  ');
  t.same(bytes.subarray(324, 348), filled(24, 51), 'GroupId');
  t.equal(hexAt(bytes, 360, 4), 'fffffb2e', 'OriginalLength');
});

for (const integers of ['big', 'little'] as const) {
  for (const ccsid of [37, 819, 1208]) {
    t.test(`a descriptor round trips with ${integers}-endian integers in CCSID ${ccsid}`,
      async (t) => {
        const md = sampleMqmd();
        t.same(decodeMqmd(encodeMqmd(md, integers, ccsid), integers, ccsid), md);
      });
  }
}

t.test('big and little endian differ exactly in the byte order of each MQLONG', async (t) => {
  const big = encodeMqmd(sampleMqmd(), 'big', 819);
  const little = encodeMqmd(sampleMqmd(), 'little', 819);
  t.equal(hexAt(big, 40, 4), '00000007', 'Priority big endian');
  t.equal(hexAt(little, 40, 4), '07000000', 'Priority little endian');
  t.equal(hexAt(little, 4, 4), '02000000', 'Version little endian');
  t.equal(hexAt(little, 360, 4), '2efbffff', 'OriginalLength little endian');
  const swapped = Buffer.from(big);
  for (const offset of LONG_OFFSETS) swapped.subarray(offset, offset + 4).reverse();
  t.same(swapped, little);
});

t.test('StrucId in EBCDIC is D4 C4 40 40 and character fields are EBCDIC', async (t) => {
  for (const ccsid of [37, 500]) {
    const bytes = encodeMqmd(sampleMqmd(), 'big', ccsid);
    t.equal(hexAt(bytes, 0, 4), 'd4c44040', `CCSID ${ccsid}`);
    t.equal(hexAt(bytes, 32, 8), 'd4d8e2e3d9404040', `Format in CCSID ${ccsid}`);
  }
});

t.test('a version-1 MQMD decodes with the version-2 fields at their defaults', async (t) => {
  const bytes = encodeMqmd(sampleMqmd(), 'little', 37).subarray(0, MQMD_V1_BYTES);
  bytes.writeInt32LE(1, 4);
  const md = decodeMqmd(bytes, 'little', 37);
  const defaults = defaultMqmd();
  t.same(md, {
    ...sampleMqmd(), groupId: defaults.groupId, msgSeqNumber: 1, offset: 0, msgFlags: 0,
    originalLength: -1,
  });
});

t.test('bytes after the structure are ignored', async (t) => {
  const bytes = Buffer.concat([encodeMqmd(sampleMqmd(), 'big', 1208), Buffer.from('body')]);
  t.same(decodeMqmd(bytes, 'big', 1208), sampleMqmd());
});

t.test('a decode error names what is wrong', async (t) => {
  const good = encodeMqmd(sampleMqmd(), 'big', 819);
  const invalid = (message: string | RegExp) => ({ code: 'E_INVALID_ARGUMENT', message });
  t.throws(() => decodeMqmd(good.subarray(0, 323), 'big', 819),
    invalid('MQMD is 323 bytes; version 1 needs 324 and version 2 364'));
  t.throws(() => decodeMqmd(good.subarray(0, 324), 'big', 819),
    invalid('MQMD Version is 2 but the MQMD is 324 bytes; version 2 needs 364'));
  t.throws(() => decodeMqmd(good, 'big', 37),
    invalid('MQMD StrucId is 0x4d442020, not "MD  " in CCSID 37'));
  const version3 = Buffer.from(good);
  version3.writeInt32BE(3, 4);
  t.throws(() => decodeMqmd(version3, 'big', 819),
    invalid('MQMD Version is 3; expected 1 or 2'));
  t.throws(() => decodeMqmd(good, 'little', 819), invalid('MQMD Version is 33554432; ' +
    'expected 1 or 2 (it reads 2 in big endian: are the integers in the other byte order?)'));
  const badName = Buffer.from(good);
  badName[100] = 0xff;
  t.throws(() => decodeMqmd(badName, 'big', 1208), invalid(/^MQMD ReplyToQ is not valid in/));
});

t.test('an encode error names the field', async (t) => {
  const invalid = (message: string | RegExp) => ({ code: 'E_INVALID_ARGUMENT', message });
  const encode = (change: Partial<Mqmd>, ccsid = 819) => () =>
    encodeMqmd({ ...sampleMqmd(), ...change }, 'big', ccsid);
  t.throws(encode({ replyToQ: 'Q'.repeat(49) }),
    invalid(/^MQMD ReplyToQ "Q+" is 49 bytes in CCSID 819; the field holds 48$/));
  t.throws(encode({ format: 'MQSTRING1' }), invalid(/^MQMD Format "MQSTRING1" is 9 bytes/));
  t.throws(encode({ userIdentifier: '€' }, 37),
    invalid('MQMD UserIdentifier "€" has characters that CCSID 37 cannot represent'));
  t.throws(encode({ msgId: Buffer.alloc(16) }),
    invalid('MQMD MsgId must be 24 bytes; got 16 bytes'));
  t.throws(encode({ accountingToken: Buffer.alloc(24) }),
    invalid('MQMD AccountingToken must be 32 bytes; got 24 bytes'));
  t.throws(encode({ groupId: Buffer.alloc(25) }), invalid(/^MQMD GroupId must be 24 bytes/));
  t.throws(encode({ priority: 2 ** 31 }), invalid('MQMD Priority must be an integer from ' +
    '-2147483648 to 2147483647; got 2147483648'));
  t.throws(encode({ expiry: 1.5 }), invalid(/^MQMD Expiry must be an integer/));
});

t.test('an unsupported CCSID or byte order is refused', async (t) => {
  t.throws(() => encodeMqmd(sampleMqmd(), 'big', 9999), {
    code: 'E_INVALID_ARGUMENT',
    message: 'MQMD character fields cannot be in CCSID 9999; supported: 37, 500, 819, 850, ' +
      '1208, 1252',
  });
  t.throws(() => decodeMqmd(Buffer.alloc(MQMD_BYTES), 'middle' as IntegerEncoding, 819), {
    code: 'E_INVALID_ARGUMENT', message: "integers must be 'big' or 'little'; got middle",
  });
});

t.test('PutDate and PutTime are GMT with hundredths and read back', async (t) => {
  const ms = Date.UTC(2024, 1, 29, 13, 5, 9, 876);
  t.same(putDateTime(ms), { putDate: '20240229', putTime: '13050987' });
  t.equal(fromPutDateTime('20240229', '13050987'), ms - 6, 'to the hundredth');
  t.same(putDateTime(0), { putDate: '19700101', putTime: '00000000' });
  t.same(putDateTime(Date.UTC(1999, 11, 31, 23, 59, 59, 999)),
    { putDate: '19991231', putTime: '23595999' });
  const early = new Date(0);
  early.setUTCFullYear(42, 6, 1);
  t.same(putDateTime(early.getTime()).putDate, '00420701', 'years below 100 stay as they are');
  t.equal(fromPutDateTime('00420701', '00000000'), early.getTime());
});

t.test('PutDate and PutTime round trip to the hundredth over four centuries', async (t) => {
  const first = Date.UTC(1800, 0, 1);
  const last = Date.UTC(2200, 0, 1);
  fc.assert(fc.property(fc.integer({ min: first, max: last }), (ms) => {
    const { putDate, putTime } = putDateTime(ms);
    assert.equal(fromPutDateTime(putDate, putTime), ms - (((ms % 10) + 10) % 10));
  }));
  t.pass('no counterexample');
});

t.test('malformed or blank PutDate and PutTime read as undefined', async (t) => {
  const cases: [string, string][] = [
    ['', ''], ['20240229', ''], ['2024022', '13050987'], ['20240230', '13050987'],
    ['20241301', '13050987'], ['20240001', '13050987'], ['20240229', '24000000'],
    ['20240229', '12600000'], ['20240229', '12006000'], ['2024022a', '13050987'],
    ['+2024022', '13050987'], ['20230229', '00000000'],
  ];
  for (const [putDate, putTime] of cases) {
    t.equal(fromPutDateTime(putDate, putTime), undefined, `'${putDate}' '${putTime}'`);
  }
});

t.test('a time outside the years 0 to 9999 has no PutDate', async (t) => {
  t.throws(() => putDateTime(Number.NaN), { code: 'E_INVALID_ARGUMENT' });
  t.throws(() => putDateTime(Date.UTC(10000, 0, 1)), {
    code: 'E_INVALID_ARGUMENT', message: /is not a time in the years 0 to 9999/,
  });
});

/** Printable ASCII without trailing blanks, which a blank-padded field cannot keep. */
const text = (maxLength: number) =>
  fc.string({ unit: 'grapheme-ascii', maxLength }).map((value) => value.trimEnd());
const bytes = (length: number) =>
  fc.uint8Array({ minLength: length, maxLength: length }).map((value) => Buffer.from(value));
const long = fc.integer();

const arbitraryMqmd: fc.Arbitrary<Mqmd> = fc.record({
  report: long, msgType: long, expiry: long, feedback: long, encoding: long,
  codedCharSetId: long, format: text(8), priority: long, persistence: long, msgId: bytes(24),
  correlId: bytes(24), backoutCount: long, replyToQ: text(48), replyToQMgr: text(48),
  userIdentifier: text(12), accountingToken: bytes(32), applIdentityData: text(32),
  putApplType: long, putApplName: text(28), putDate: text(8), putTime: text(8),
  applOriginData: text(4), groupId: bytes(24), msgSeqNumber: long, offset: long,
  msgFlags: long, originalLength: long,
}).map((record) => ({ ...record })); // fast-check's records have no prototype; decoded ones do

t.test('random descriptors round trip in every byte order and CCSID', async (t) => {
  let runs = 0;
  fc.assert(fc.property(
    arbitraryMqmd, fc.constantFrom<IntegerEncoding>('big', 'little'),
    fc.constantFrom(...SUPPORTED_CCSIDS),
    (md, integers, ccsid) => {
      runs++;
      const encoded = encodeMqmd(md, integers, ccsid);
      assert.equal(encoded.length, MQMD_BYTES);
      assert.deepEqual(decodeMqmd(encoded, integers, ccsid), md);
    },
  ), { numRuns: 500 });
  t.equal(runs, 500, 'every run was checked');
});
