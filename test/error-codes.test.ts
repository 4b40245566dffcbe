/**
 * The error codes users switch on: the native core's list (native/errors.h, exported as
 * binding.errorCodes) and src/errors.ts's ERROR_CODES must be the same list in the same order,
 * and fromNative must turn what the core throws into a SanmqError with the right code.
 */
import t from 'tap';

import { ERROR_CODES, SanmqError, isSanmqError } from '../src/index.js';
import {
  CHANNEL_ERROR_CODES,
  CONTROLLER_ERROR_CODES,
  PROTOCOL_ERROR_CODES,
  STORAGE_ERROR_CODES,
  fromNative,
} from '../src/errors.js';
import { binding } from '../src/storage/binding.js';

/** What the addon throws: a plain Error carrying a `code` (native/workers.h codedError). */
function coded(code: string, message: string, extra: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(message), { code }, extra);
}

t.test('the native error codes equal STORAGE_ERROR_CODES of src/errors.ts, in order', async (t) => {
  t.same([...binding.errorCodes], [...STORAGE_ERROR_CODES]);
});

t.test('ERROR_CODES is the storage, controller, protocol and channel codes, in that order',
  async (t) => {
    t.same([...ERROR_CODES], [...STORAGE_ERROR_CODES, ...CONTROLLER_ERROR_CODES,
      ...PROTOCOL_ERROR_CODES, ...CHANNEL_ERROR_CODES]);
  });

t.test('ERROR_CODES has no duplicates and every code starts with E_', async (t) => {
  t.equal(new Set(ERROR_CODES).size, ERROR_CODES.length);
  t.same(ERROR_CODES.filter((code) => !/^E_[A-Z_]+$/.test(code)), []);
});

t.test('fromNative keeps the code and message of every known code', async (t) => {
  for (const code of binding.errorCodes) {
    const error = fromNative(coded(code, `message of ${code}`));
    t.ok(error instanceof SanmqError, `${code} becomes a SanmqError`);
    t.equal(error.code, code);
    t.equal(error.message, `message of ${code}`);
    t.equal(error.name, 'SanmqError');
    t.ok(isSanmqError(error, error.code));
  }
});

t.test('fromNative carries a recovery report into details.report', async (t) => {
  const report = { corruptions: [{ address: 8192, reason: 'checksum mismatch' }] };
  const error = fromNative(coded('E_CORRUPT', 'x is corrupt', { report }));
  t.equal(error.code, 'E_CORRUPT');
  t.equal(error.details['report'], report);
});

t.test('fromNative maps an unknown code to E_INTERNAL and keeps the message', async (t) => {
  const error = fromNative(coded('E_NO_SUCH_CODE', 'strange'));
  t.equal(error.code, 'E_INTERNAL');
  t.equal(error.message, 'strange');
});

t.test('fromNative maps an Error without a code to E_INTERNAL', async (t) => {
  const error = fromNative(new TypeError('boom'));
  t.equal(error.code, 'E_INTERNAL');
  t.equal(error.message, 'boom');
});

t.test('fromNative maps a thrown non-Error value to E_INTERNAL with its text', async (t) => {
  const error = fromNative('just a string');
  t.equal(error.code, 'E_INTERNAL');
  t.equal(error.message, 'just a string');
});

t.test('fromNative returns a SanmqError unchanged', async (t) => {
  const original = new SanmqError('E_LUN_FULL', 'full');
  t.equal(fromNative(original), original);
});

t.test('an error thrown by the addon itself carries a code that fromNative keeps', async (t) => {
  let thrown: unknown;
  try {
    binding.crc32c('not bytes' as unknown as Uint8Array);
  } catch (error) {
    thrown = error;
  }
  t.ok(thrown instanceof Error, 'the addon threw');
  t.equal((thrown as { code?: unknown }).code, 'E_INVALID_ARGUMENT');
  const mapped = fromNative(thrown);
  t.equal(mapped.code, 'E_INVALID_ARGUMENT');
  t.equal(mapped.message, 'crc32c(data[, crc]): data must be a Uint8Array');
});

t.test('isSanmqError tells codes apart and rejects plain coded Errors', async (t) => {
  const error = new SanmqError('E_CHECKSUM', 'bad');
  t.ok(isSanmqError(error));
  t.ok(isSanmqError(error, 'E_CHECKSUM'));
  t.notOk(isSanmqError(error, 'E_CORRUPT'));
  t.notOk(isSanmqError(coded('E_CHECKSUM', 'bad')));
});
