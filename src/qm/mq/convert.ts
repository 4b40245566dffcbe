/**
 * Character data conversion of the mq personality: text between bytes and strings in the
 * CCSIDs it supports (the single-byte pages of codepages.ts and UTF-8), MQ-style conversion of
 * a message body from one CCSID to another, and the fixed-width, blank-padded MQCHAR fields of
 * the MQ structures. What cannot be converted is reported, never silently replaced: MQ hands
 * such data back unconverted with a warning, and so does convertText.
 */
import { Errors } from '../../errors.js';
import { codePage, SINGLE_BYTE_CCSIDS, UNMAPPED } from './codepages.js';

/** CCSID of UTF-8. */
export const CCSID_UTF8 = 1208;

/** CCSID of ISO-8859-1, whose bytes are their own code points. */
const CCSID_LATIN1 = 819;

export const SUPPORTED_CCSIDS: readonly number[] =
  [...SINGLE_BYTE_CCSIDS, CCSID_UTF8].sort((a, b) => a - b);

/** MQ reason codes of a conversion that failed (IBM's names; mqmd.ts exports them too). */
export const MQRC_NOT_CONVERTED = 2119;
/** The Format is not valid or the data does not match it (the personality's check, not ours). */
export const MQRC_FORMAT_ERROR = 2110;
export const MQRC_SOURCE_CCSID_ERROR = 2111;
export const MQRC_TARGET_CCSID_ERROR = 2115;

/** What convertText did: the bytes to deliver, and why they are unconverted if they are. */
export interface ConversionResult {
  bytes: Buffer;
  converted: boolean;
  /** A sentence saying why the data is unconverted; absent when converted. */
  reason?: string;
  /** The MQ reason code that goes with `reason`; absent when converted. */
  reasonCode?: number;
}

const supported = new Set(SUPPORTED_CCSIDS);

export function isSupportedCcsid(ccsid: number): boolean {
  return supported.has(ccsid);
}

/** fatal: invalid UTF-8 must fail, not turn into U+FFFD, so that it is reported unconverted. */
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** Code units per String.fromCharCode call, well under the engine's argument limit. */
const DECODE_CHUNK_UNITS = 8192;

/**
 * Decodes bytes in `ccsid` to a string; undefined if the CCSID is unknown or the bytes are not
 * valid in it (invalid UTF-8, an unmapped byte).
 */
export function decodeText(bytes: Uint8Array, ccsid: number): string | undefined {
  if (ccsid === CCSID_UTF8) {
    try {
      return utf8Decoder.decode(bytes);
    } catch {
      return undefined;
    }
  }
  // Node's 'latin1' is true ISO-8859-1 (TextDecoder's 'latin1' would be windows-1252).
  if (ccsid === CCSID_LATIN1) return viewOf(bytes).toString('latin1');
  const table = codePage(ccsid);
  if (table === undefined) return undefined;
  const units = new Uint16Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) {
    const code = table[bytes[i] as number] as number;
    if (code === UNMAPPED) return undefined;
    units[i] = code;
  }
  let text = '';
  for (let start = 0; start < units.length; start += DECODE_CHUNK_UNITS) {
    text += String.fromCharCode(...units.subarray(start, start + DECODE_CHUNK_UNITS));
  }
  return text;
}

/** In a `u` regular expression a paired surrogate is one code point, so this finds lone ones. */
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

/** Reverse tables (code unit → byte, -1 for none), built on the first encode into a page. */
const reverseTables = new Map<number, Int16Array>();

function reverseTable(ccsid: number): Int16Array | undefined {
  const cached = reverseTables.get(ccsid);
  if (cached !== undefined) return cached;
  const table = codePage(ccsid);
  if (table === undefined) return undefined;
  const reverse = new Int16Array(0x10000).fill(-1);
  // Descending, so that were a character on two bytes the lower byte would win.
  for (let byte = 255; byte >= 0; byte--) {
    const code = table[byte] as number;
    if (code !== UNMAPPED) reverse[code] = byte;
  }
  reverseTables.set(ccsid, reverse);
  return reverse;
}

/**
 * Encodes a string in `ccsid`; undefined if the CCSID is unknown or a character has no code
 * in it.
 */
export function encodeText(text: string, ccsid: number): Buffer | undefined {
  if (ccsid === CCSID_UTF8) {
    // Buffer.from would write a lone surrogate as U+FFFD; it has no UTF-8 form, so refuse it.
    return LONE_SURROGATE.test(text) ? undefined : Buffer.from(text, 'utf8');
  }
  const reverse = reverseTable(ccsid);
  if (reverse === undefined) return undefined;
  const bytes = Buffer.allocUnsafe(text.length);
  for (let i = 0; i < text.length; i++) {
    // A character beyond the BMP is two surrogate code units, which no page maps: refused.
    const byte = reverse[text.charCodeAt(i)] as number;
    if (byte < 0) return undefined;
    bytes[i] = byte;
  }
  return bytes;
}

/** A Buffer over the same memory as `bytes`, without copying. */
function viewOf(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

function unconverted(bytes: Uint8Array, reasonCode: number, reason: string): ConversionResult {
  return { bytes: viewOf(bytes), converted: false, reason, reasonCode };
}

/**
 * MQ-style conversion of character data; on failure the input comes back as it was, with
 * converted: false and the reason. Same-CCSID conversion is the identity and checks nothing,
 * as in MQ. The returned bytes may share memory with the input.
 */
export function convertText(
  bytes: Uint8Array, sourceCcsid: number, targetCcsid: number,
): ConversionResult {
  if (sourceCcsid === targetCcsid) return { bytes: viewOf(bytes), converted: true };
  if (!isSupportedCcsid(sourceCcsid)) {
    return unconverted(bytes, MQRC_SOURCE_CCSID_ERROR,
      `source CCSID ${sourceCcsid} is not supported`);
  }
  if (!isSupportedCcsid(targetCcsid)) {
    return unconverted(bytes, MQRC_TARGET_CCSID_ERROR,
      `target CCSID ${targetCcsid} is not supported`);
  }
  const text = decodeText(bytes, sourceCcsid);
  if (text === undefined) {
    return unconverted(bytes, MQRC_NOT_CONVERTED,
      `the data is not valid in its CCSID ${sourceCcsid}`);
  }
  const converted = encodeText(text, targetCcsid);
  if (converted === undefined) {
    return unconverted(bytes, MQRC_NOT_CONVERTED,
      `the data has characters that CCSID ${targetCcsid} cannot represent`);
  }
  return { bytes: converted, converted: true };
}

const blanks = new Map<number, number>();

/** The blank of `ccsid` (0x40 in EBCDIC, 0x20 otherwise), from its own table. */
function blankOf(ccsid: number, name: string): number {
  const known = blanks.get(ccsid);
  if (known !== undefined) return known;
  const blank = encodeText(' ', ccsid);
  if (blank === undefined) throw Errors.invalidArgument(`${name}: CCSID ${ccsid} is not supported`);
  blanks.set(ccsid, blank[0] as number);
  return blank[0] as number;
}

/**
 * Encodes a fixed-width MQCHAR field (MQMD's Format, ReplyToQ…) in `ccsid`, padded with that
 * CCSID's blanks. Throws E_INVALID_ARGUMENT, naming the field by `name`, if the text has a
 * character the CCSID lacks or its encoding is longer than `width` bytes.
 */
export function encodeField(text: string, width: number, ccsid: number, name = 'field'): Buffer {
  const field = Buffer.alloc(width, blankOf(ccsid, name));
  // Most MQMD fields are blank: nothing to encode.
  if (text.length === 0) return field;
  const encoded = encodeText(text, ccsid);
  if (encoded === undefined) {
    throw Errors.invalidArgument(
      `${name} ${JSON.stringify(text)} has characters that CCSID ${ccsid} cannot represent`);
  }
  if (encoded.length > width) {
    throw Errors.invalidArgument(`${name} ${JSON.stringify(text)} is ${encoded.length} bytes ` +
      `in CCSID ${ccsid}; the field holds ${width}`);
  }
  encoded.copy(field);
  return field;
}

/**
 * Decodes a fixed-width MQCHAR field, trailing blanks trimmed. As MQ reads C strings, a NUL
 * ends the text: it and whatever follows count as blanks. Throws E_INVALID_ARGUMENT, naming
 * the field by `name`, if the bytes are not valid in `ccsid`.
 */
export function decodeField(bytes: Uint8Array, ccsid: number, name = 'field'): string {
  const blank = blankOf(ccsid, name);
  const nul = bytes.indexOf(0);
  let end = nul < 0 ? bytes.length : nul;
  while (end > 0 && bytes[end - 1] === blank) end--;
  if (end === 0) return '';
  const text = decodeText(bytes.subarray(0, end), ccsid);
  if (text === undefined) {
    throw Errors.invalidArgument(`${name} is not valid in CCSID ${ccsid}: ` +
      `0x${viewOf(bytes).toString('hex')}`);
  }
  return text;
}
