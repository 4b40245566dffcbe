/**
 * Checked reading of request arguments, and the typed values that MessagePack cannot tell
 * apart by itself. Request arguments come from another thread, process or host: each field
 * is read through one of these functions, which name the field when it is wrong
 * (E_INVALID_ARGUMENT), so a bad request gets a clear error and never reaches the controller
 * half-checked.
 */
import { Errors } from '../errors.js';
import type { Properties, PropertyValue } from '../controller/codec.js';
import type { Args } from './frames.js';

export function text(args: Args, key: string): string {
  const value = args[key];
  if (typeof value !== 'string') throw Errors.invalidArgument(`${key} must be a string`);
  return value;
}

export function optionalText(args: Args, key: string): string | undefined {
  return args[key] === undefined || args[key] === null ? undefined : text(args, key);
}

export function integer(args: Args, key: string): number {
  const value = args[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw Errors.invalidArgument(`${key} must be an integer`);
  }
  return value;
}

export function optionalInteger(args: Args, key: string): number | undefined {
  return args[key] === undefined || args[key] === null ? undefined : integer(args, key);
}

export function optionalFlag(args: Args, key: string): boolean | undefined {
  const value = args[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw Errors.invalidArgument(`${key} must be true or false`);
  return value;
}

export function bytes(args: Args, key: string): Uint8Array {
  const value = args[key];
  if (!(value instanceof Uint8Array)) throw Errors.invalidArgument(`${key} must be bytes (bin)`);
  return value;
}

export function optionalBytes(args: Args, key: string): Uint8Array | undefined {
  return args[key] === undefined || args[key] === null ? undefined : bytes(args, key);
}

export function map(args: Args, key: string): Args {
  const value = args[key];
  if (typeof value !== 'object' || value === null || Array.isArray(value) ||
    value instanceof Uint8Array) {
    throw Errors.invalidArgument(`${key} must be a map`);
  }
  return value as Args;
}

export function optionalMap(args: Args, key: string): Args | undefined {
  return args[key] === undefined || args[key] === null ? undefined : map(args, key);
}

/**
 * Properties travel as a map from name to [type, value], since MessagePack has one integer
 * type and JavaScript two numbers: 'n' null, 'b' boolean, 'd' double, 'l' long (64-bit
 * integer), 's' string, 'x' bytes.
 */
export type WireProperty = ['n', null] | ['b', boolean] | ['d', number] | ['l', number | bigint] |
  ['s', string] | ['x', Uint8Array];

const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;

export function propertiesToWire(properties: Properties): Record<string, WireProperty> {
  const result: Record<string, WireProperty> = {};
  for (const [name, value] of Object.entries(properties)) result[name] = propertyToWire(value);
  return result;
}

function propertyToWire(value: PropertyValue): WireProperty {
  if (value === null) return ['n', null];
  switch (typeof value) {
    case 'boolean': return ['b', value];
    case 'number': return ['d', value];
    case 'bigint':
      if (value < LONG_MIN || value > LONG_MAX) {
        throw Errors.invalidArgument(`a long property value must fit in 64 bits: ${value}`);
      }
      return ['l', value];
    case 'string': return ['s', value];
    default: return ['x', value];
  }
}

export function propertiesFromWire(value: unknown): Properties {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value) || value instanceof Uint8Array) {
    throw Errors.invalidArgument('properties must be a map of name to [type, value]');
  }
  const result: Properties = {};
  for (const [name, item] of Object.entries(value as Args)) {
    result[name] = propertyFromWire(name, item);
  }
  return result;
}

function propertyFromWire(name: string, item: unknown): PropertyValue {
  const bad = (): Error => Errors.invalidArgument(
    `property '${name}' must be [type, value] with type n, b, d, l, s or x and a value of it`);
  if (!Array.isArray(item) || item.length !== 2) throw bad();
  const [type, value] = item as [unknown, unknown];
  switch (type) {
    case 'n': if (value === null) return null; break;
    case 'b': if (typeof value === 'boolean') return value; break;
    case 'd': if (typeof value === 'number') return value; break;
    case 'l':
      if (typeof value === 'bigint') return value;
      if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
      break;
    case 's': if (typeof value === 'string') return value; break;
    case 'x': if (value instanceof Uint8Array) return Buffer.from(value); break;
    default: break;
  }
  throw bad();
}
