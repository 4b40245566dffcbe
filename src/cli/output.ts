/**
 * How the `sanmq` command speaks: `--json` for every listing, tables only on a terminal (plain
 * `key value` lines otherwise), colour only on a terminal and never under NO_COLOR, names never
 * truncated, and one clear line on stderr for an error, with a stable exit code.
 */
import Table from 'cli-table3';
import pc from 'picocolors';

import { SanmqError, type ErrorCode } from '../errors.js';

/** Exit codes, stable across versions (docs/OPERATIONS.md lists them). */
export const EXIT = {
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  foreign: 4,
  busy: 5,
  corrupt: 6,
  unavailable: 7,
} as const;

const CODE_EXITS: Partial<Record<ErrorCode, number>> = {
  E_INVALID_ARGUMENT: EXIT.usage,
  E_UNKNOWN_QUEUE: EXIT.notFound,
  E_UNKNOWN_CHANNEL: EXIT.notFound,
  E_UNKNOWN_XID: EXIT.notFound,
  E_NO_MSG: EXIT.notFound,
  E_NOT_A_LUN: EXIT.foreign,
  E_FOREIGN_DATA: EXIT.foreign,
  E_BAD_VERSION: EXIT.foreign,
  E_LUN_BUSY: EXIT.busy,
  E_BUSY: EXIT.busy,
  E_OBJECT_IN_USE: EXIT.busy,
  E_CHANNEL_ACTIVE: EXIT.busy,
  E_Q_EXISTS: EXIT.busy,
  E_CHANNEL_EXISTS: EXIT.busy,
  E_CORRUPT: EXIT.corrupt,
  E_CHECKSUM: EXIT.corrupt,
  E_QM_NOT_AVAILABLE: EXIT.unavailable,
  E_CONNECTION_BROKEN: EXIT.unavailable,
};

/** A failure the command reports itself: its line and exit code. */
export class CliError extends Error {
  constructor(message: string, readonly exitCode: number, readonly code = 'E_CLI') {
    super(message);
  }
}

export function exitCodeOf(error: unknown): number {
  if (error instanceof CliError) return error.exitCode;
  if (error instanceof SanmqError) return CODE_EXITS[error.code] ?? EXIT.failure;
  return EXIT.failure;
}

/** The one line an error gets: `sanmq: CODE: message`. */
export function errorLine(error: unknown): string {
  if (error instanceof CliError || error instanceof SanmqError) {
    return `sanmq: ${error.code}: ${error.message}`;
  }
  return `sanmq: ${error instanceof Error ? error.message : String(error)}`;
}

export interface Output {
  json: boolean;
  tty: boolean;
  color: boolean;
}

export function outputOf(options: { json?: boolean }): Output {
  const tty = process.stdout.isTTY === true;
  return { json: options.json === true, tty,
    color: tty && process.env['NO_COLOR'] === undefined && pc.isColorSupported };
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, (_key, item: unknown) =>
    (typeof item === 'bigint' ? item.toString() : item), 2)}\n`);
}

/** Rows as a table on a terminal; as tab-separated lines with a header row otherwise. */
export function printRows(out: Output, columns: string[], rows: Array<Array<string | number>>): void {
  if (out.tty) {
    const table = new Table({ head: columns.map((c) => (out.color ? pc.bold(c) : c)),
      style: { head: [], border: [] }, wordWrap: false });
    for (const row of rows) table.push(row.map(String));
    process.stdout.write(`${table.toString()}\n`);
    return;
  }
  process.stdout.write(`${columns.join('\t')}\n`);
  for (const row of rows) process.stdout.write(`${row.map(String).join('\t')}\n`);
}

/** `key: value` lines, aligned. */
export function printFields(fields: Array<[string, string | number | boolean]>): void {
  const width = Math.max(...fields.map(([key]) => key.length));
  for (const [key, value] of fields) process.stdout.write(`${key.padEnd(width)}  ${String(value)}\n`);
}

/** "1GiB", "512 MiB", "64m", "4096" → bytes. */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$/i.exec(text);
  if (match === null) throw new CliError(`'${text}' is not a size (examples: 64MiB, 1GiB, 4096)`, EXIT.usage);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[
    (match[2] as string).toLowerCase() as '' | 'k' | 'm' | 'g' | 't'];
  return Math.round(Number(match[1]) * unit);
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
