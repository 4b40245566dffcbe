/**
 * The one errors module of sanmq. Every failure a caller can meet is a {@link SanmqError} with a
 * stable `code` to switch on; the list below is the same as the native core's (native/errors.h),
 * and a test compares the two. Messages say what was wrong and, where it helps, what to do.
 */

export const ERROR_CODES = [
  'E_INVALID_ARGUMENT',
  'E_NOT_A_LUN',
  'E_BAD_VERSION',
  'E_CHECKSUM',
  'E_CORRUPT',
  'E_GEOMETRY',
  'E_FOREIGN_DATA',
  'E_LUN_BUSY',
  'E_LUN_FULL',
  'E_NO_SPACE',
  'E_IO',
  'E_FAILED',
  'E_CRASHED',
  'E_CLOSED',
  'E_READ_ONLY',
  'E_NOT_WRITER',
  'E_NOT_LIVE',
  'E_RECORD_TOO_LARGE',
  'E_BUSY',
  'E_INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

const known = new Set<string>(ERROR_CODES);

export class SanmqError extends Error {
  readonly code: ErrorCode;
  /** Extra facts some errors carry (for example the recovery report of a corrupt LUN). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = 'SanmqError';
    this.code = code;
    this.details = details;
  }
}

export function isSanmqError(value: unknown, code?: ErrorCode): value is SanmqError {
  return value instanceof SanmqError && (code === undefined || value.code === code);
}

/** Turns an error thrown by the native core (an Error with a `code`) into a SanmqError. */
export function fromNative(error: unknown): SanmqError {
  if (error instanceof SanmqError) return error;
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    const details: Record<string, unknown> = {};
    const report = (error as { report?: unknown }).report;
    if (report !== undefined) details['report'] = report;
    if (typeof code === 'string' && known.has(code)) {
      return new SanmqError(code as ErrorCode, error.message, details);
    }
    return new SanmqError('E_INTERNAL', error.message, details);
  }
  return new SanmqError('E_INTERNAL', String(error));
}

/** One factory per failure the TypeScript layers raise themselves. */
export const Errors = {
  invalidArgument: (message: string) => new SanmqError('E_INVALID_ARGUMENT', message),
  closed: (what = 'the LUN') => new SanmqError('E_CLOSED', `${what} is closed`),
  recordTooLarge: (message: string) => new SanmqError('E_RECORD_TOO_LARGE', message),
  readOnly: () => new SanmqError('E_READ_ONLY', 'the LUN was opened read-only'),
  notWriter: () =>
    new SanmqError(
      'E_NOT_WRITER',
      'the LUN was attached for slot access only; its log belongs to its writer',
    ),
} as const;
