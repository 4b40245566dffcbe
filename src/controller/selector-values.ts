/**
 * The values of a JMS message selector at work (selector.ts): comparisons, arithmetic, NOT,
 * AND, OR and LIKE over values that may be null (UNKNOWN), following the three-valued logic of
 * JMS 2.0, 3.8.1.2. Each function here never throws.
 */
import type { SelectorLookup, SelectorValue } from './selector.js';

export type Evaluate = (lookup: SelectorLookup) => SelectorValue;

/** Absent properties and values of no selector type are NULL. */
export function normalize(value: unknown): SelectorValue {
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'bigint':
    case 'boolean':
      return value;
    default:
      return null;
  }
}

export type Comparison = '=' | '<>' | '<' | '<=' | '>' | '>=';
export type Arithmetic = '+' | '-' | '*' | '/';

export function isNumeric(value: SelectorValue): value is number | bigint {
  return typeof value === 'number' || typeof value === 'bigint';
}

/** Exact and approximate numbers compare by value: JavaScript's == and < between a bigint and
 *  a number compare the mathematical values, with no rounding of the bigint. */
export function compareNumbers(operator: Comparison, a: number | bigint, b: number | bigint): boolean {
  switch (operator) {
    case '=': return a == b;
    case '<>': return a != b;
    case '<': return a < b;
    case '<=': return a <= b;
    case '>': return a > b;
    case '>=': return a >= b;
  }
}

/** Values of unlike types compare as UNKNOWN, and strings and booleans have no order. */
export function compare(operator: Comparison, a: SelectorValue, b: SelectorValue): boolean | null {
  if (a === null || b === null) return null;
  if (isNumeric(a) && isNumeric(b)) return compareNumbers(operator, a, b);
  if (typeof a !== typeof b) return null;
  if (operator === '=') return a === b;
  if (operator === '<>') return a !== b;
  return null;
}

export function exact(operator: Arithmetic, a: bigint, b: bigint): bigint | null {
  // A bigint past V8's size limit throws RangeError; such a result is UNKNOWN, not a crash.
  try {
    switch (operator) {
      case '+': return a + b;
      case '-': return a - b;
      case '*': return a * b;
      case '/': return b === 0n ? null : a / b;
    }
  } catch {
    return null;
  }
}

export function toDouble(value: SelectorValue): number | null {
  if (typeof value === 'number') return value;
  return typeof value === 'bigint' ? Number(value) : null;
}

/** Exact values stay exact (division truncates); anything approximate makes the sum a double. */
export function calculate(operator: Arithmetic, a: SelectorValue, b: SelectorValue): SelectorValue {
  if (typeof a === 'bigint' && typeof b === 'bigint') return exact(operator, a, b);
  const x = toDouble(a);
  const y = toDouble(b);
  if (x === null || y === null) return null;
  switch (operator) {
    case '+': return x + y;
    case '-': return x - y;
    case '*': return x * y;
    case '/': return x / y;
  }
}

export function negate(value: SelectorValue): SelectorValue {
  return typeof value === 'bigint' || typeof value === 'number' ? -value : null;
}

export function plus(value: SelectorValue): SelectorValue {
  return isNumeric(value) ? value : null;
}

export function not(value: SelectorValue): boolean | null {
  return typeof value === 'boolean' ? !value : null;
}

export function allOf(operands: readonly Evaluate[]): Evaluate {
  return (lookup) => {
    let result: boolean | null = true;
    for (const operand of operands) {
      const value = operand(lookup);
      if (value === false) return false;
      if (value !== true) result = null;
    }
    return result;
  };
}

export function anyOf(operands: readonly Evaluate[]): Evaluate {
  return (lookup) => {
    let result: boolean | null = false;
    for (const operand of operands) {
      const value = operand(lookup);
      if (value === true) return true;
      if (value !== false) result = null;
    }
    return result;
  };
}

/** A LIKE pattern: literal runs, `_` (one character) and `%` (any sequence). */
export const ANY_CHARACTER = 0;
export const ANY_SEQUENCE = 1;
export type LikeItem = string | typeof ANY_CHARACTER | typeof ANY_SEQUENCE;

/** The index after the character (code point) at `at`. */
export function nextCharacter(text: string, at: number): number {
  const code = text.charCodeAt(at);
  if (code >= 0xd800 && code <= 0xdbff) {
    const low = text.charCodeAt(at + 1);
    if (low >= 0xdc00 && low <= 0xdfff) return at + 2;
  }
  return at + 1;
}

/**
 * Whether `text` matches the pattern. Each `%` remembers where it started and, on a mismatch,
 * the last one absorbs one more character; this is O(text × pattern) in the worst case where a
 * regular expression could backtrack exponentially on a hostile pattern.
 */
export function likeMatches(items: readonly LikeItem[], text: string): boolean {
  let item = 0;
  let at = 0;
  let sequenceItem = -1;
  let sequenceAt = 0;
  while (at < text.length) {
    const current = items[item];
    if (current === ANY_SEQUENCE) {
      sequenceItem = item;
      sequenceAt = at;
      item += 1;
    } else if (current === ANY_CHARACTER) {
      at = nextCharacter(text, at);
      item += 1;
    } else if (current !== undefined && text.startsWith(current, at)) {
      at += current.length;
      item += 1;
    } else if (sequenceItem < 0) {
      return false;
    } else {
      sequenceAt = nextCharacter(text, sequenceAt);
      at = sequenceAt;
      item = sequenceItem + 1;
    }
  }
  while (items[item] === ANY_SEQUENCE) item += 1;
  return item === items.length;
}

/** The items of a pattern, or the index of a trailing escape character (which escapes nothing). */
export function likeItems(pattern: string, escape: string | null): LikeItem[] | number {
  const items: LikeItem[] = [];
  let literal = '';
  let escapeAt = -1;
  let at = 0;
  for (const character of pattern) {
    if (escapeAt >= 0) {
      literal += character;
      escapeAt = -1;
    } else if (character === escape) {
      escapeAt = at;
    } else if (character === '%' || character === '_') {
      if (literal !== '') items.push(literal);
      literal = '';
      const item = character === '%' ? ANY_SEQUENCE : ANY_CHARACTER;
      if (item === ANY_CHARACTER || items.at(-1) !== ANY_SEQUENCE) items.push(item);
    } else {
      literal += character;
    }
    at += character.length;
  }
  if (escapeAt >= 0) return escapeAt;
  if (literal !== '') items.push(literal);
  return items;
}
