/**
 * JMS message selectors: the SQL-92 subset of JMS 2.0, section 3.8.1. A selector is compiled
 * once into a tree of closures, so that testing a message (which the get path does for every
 * message it examines) walks no syntax and allocates nothing. Evaluation follows the spec's
 * three-valued logic, with UNKNOWN carried as null; a message is selected only when the whole
 * selector is TRUE. Every syntax or type error found at compile time is an E_BAD_SELECTOR
 * whose message names what was expected and the character position (counted from 0, in UTF-16
 * code units, as JavaScript indexes strings); `details.position` holds the same number.
 */
import { SanmqError } from '../errors.js';

export type SelectorValue = string | number | bigint | boolean | null;

/**
 * Returns the value of an identifier for the message being tested; undefined or null = the
 * property is absent (SQL NULL). Any other kind of value is treated as absent too.
 */
export type SelectorLookup = (identifier: string) => SelectorValue | undefined;

export interface Selector {
  readonly text: string;
  /** Whether the selector is TRUE for the message `lookup` describes; never throws for any
   *  value the lookup returns (an exception the lookup itself throws passes through). */
  matches(lookup: SelectorLookup): boolean;
}

/** Longest selector text, in UTF-16 code units. */
export const SELECTOR_LENGTH_MAX = 4096;
/** Most tokens in one selector; this bounds the depth of chains like `a + b + c + …`. */
export const SELECTOR_TOKENS_MAX = 1024;
/** Deepest nesting of parentheses, NOT and unary signs, so hostile input cannot overflow the
 *  stack while compiling or evaluating. */
export const SELECTOR_DEPTH_MAX = 100;

const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;

type Evaluate = (lookup: SelectorLookup) => SelectorValue;

// ---------------------------------------------------------------------------------------------
// Tokens

type TokenKind =
  | 'identifier' | 'keyword' | 'string' | 'exact' | 'approximate' | 'operator' | 'end';

interface Token {
  readonly kind: TokenKind;
  /** The token as written. */
  readonly text: string;
  readonly position: number;
  /** A keyword in upper case; a string literal's value with '' undone; otherwise the text. */
  readonly value: string;
}

const KEYWORDS = new Set([
  'NULL', 'TRUE', 'FALSE', 'NOT', 'AND', 'OR', 'BETWEEN', 'LIKE', 'IN', 'IS', 'ESCAPE',
]);
/** Two-character operators come first so that `<=` is not read as `<` then `=`. */
const OPERATORS = ['<>', '<=', '>=', '=', '<', '>', '+', '-', '*', '/', '(', ')', ','];
const WHITESPACE = /\s+/y;
/** Java identifier start and part characters (Character.isJavaIdentifierStart/Part). */
const IDENTIFIER = /[\p{L}\p{Nl}\p{Sc}\p{Pc}][\p{L}\p{Nl}\p{Sc}\p{Pc}\p{Nd}\p{Mn}\p{Mc}\p{Cf}]*/uy;
const IDENTIFIER_PART = /[\p{L}\p{Nl}\p{Sc}\p{Pc}\p{Nd}\p{Mn}\p{Mc}\p{Cf}.]/u;
const NUMBER = /(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/y;
/** Keywords match in any case, but only in ASCII: 'ın' must not become IN by toUpperCase. */
const ASCII_WORD = /^[A-Za-z]+$/;

function selectorError(text: string, message: string, position: number): SanmqError {
  return new SanmqError('E_BAD_SELECTOR', `selector: ${message}`, { selector: text, position });
}

function describeToken(token: Token): string {
  if (token.kind === 'end') return 'the end of the selector';
  const shown = token.text.length > 40 ? `${token.text.slice(0, 37)}...` : token.text;
  return token.kind === 'string' ? `string ${shown}` : `'${shown}'`;
}

function readString(text: string, start: number): Token {
  let value = '';
  let from = start + 1;
  for (;;) {
    const quote = text.indexOf("'", from);
    if (quote < 0) {
      throw selectorError(text, `unterminated string literal at position ${start}`, start);
    }
    value += text.slice(from, quote);
    if (text[quote + 1] !== "'") {
      return { kind: 'string', text: text.slice(start, quote + 1), position: start, value };
    }
    value += "'";
    from = quote + 2;
  }
}

function readWord(text: string, start: number): Token | undefined {
  IDENTIFIER.lastIndex = start;
  const word = IDENTIFIER.exec(text)?.[0];
  if (word === undefined) return undefined;
  const upper = word.toUpperCase();
  if (ASCII_WORD.test(word) && KEYWORDS.has(upper)) {
    return { kind: 'keyword', text: word, position: start, value: upper };
  }
  return { kind: 'identifier', text: word, position: start, value: word };
}

function readNumber(text: string, start: number): Token | undefined {
  NUMBER.lastIndex = start;
  const number = NUMBER.exec(text)?.[0];
  if (number === undefined) return undefined;
  const after = text.codePointAt(start + number.length);
  if (after !== undefined && IDENTIFIER_PART.test(String.fromCodePoint(after))) {
    const position = start + number.length;
    throw selectorError(text,
      `unexpected '${String.fromCodePoint(after)}' after number ${number} at position ${position}`,
      position);
  }
  const exact = !/[.eE]/.test(number);
  return { kind: exact ? 'exact' : 'approximate', text: number, position: start, value: number };
}

function readToken(text: string, start: number): Token {
  if (text[start] === "'") return readString(text, start);
  const token = readWord(text, start) ?? readNumber(text, start);
  if (token !== undefined) return token;
  const operator = OPERATORS.find((candidate) => text.startsWith(candidate, start));
  if (operator !== undefined) {
    return { kind: 'operator', text: operator, position: start, value: operator };
  }
  const character = String.fromCodePoint(text.codePointAt(start) ?? 0);
  const hint = character === '!' ? " (JMS writes 'not equal' as <>)" : '';
  throw selectorError(text,
    `unexpected character '${character}' at position ${start}${hint}`, start);
}

/** The tokens of `text`, ending with one 'end' token. */
function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  for (;;) {
    WHITESPACE.lastIndex = at;
    if (WHITESPACE.test(text)) at = WHITESPACE.lastIndex;
    if (at >= text.length) break;
    if (tokens.length === SELECTOR_TOKENS_MAX) {
      throw selectorError(text,
        `more than ${SELECTOR_TOKENS_MAX} tokens (the limit) at position ${at}`, at);
    }
    const token = readToken(text, at);
    tokens.push(token);
    at += token.text.length;
  }
  tokens.push({ kind: 'end', text: '', position: text.length, value: '' });
  return tokens;
}

// ---------------------------------------------------------------------------------------------
// Evaluation: each function here takes values that may be null (UNKNOWN) and never throws.

/** Absent properties and values of no selector type are NULL. */
function normalize(value: unknown): SelectorValue {
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

type Comparison = '=' | '<>' | '<' | '<=' | '>' | '>=';
type Arithmetic = '+' | '-' | '*' | '/';

function isNumeric(value: SelectorValue): value is number | bigint {
  return typeof value === 'number' || typeof value === 'bigint';
}

/** Exact and approximate numbers compare by value: JavaScript's == and < between a bigint and
 *  a number compare the mathematical values, with no rounding of the bigint. */
function compareNumbers(operator: Comparison, a: number | bigint, b: number | bigint): boolean {
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
function compare(operator: Comparison, a: SelectorValue, b: SelectorValue): boolean | null {
  if (a === null || b === null) return null;
  if (isNumeric(a) && isNumeric(b)) return compareNumbers(operator, a, b);
  if (typeof a !== typeof b) return null;
  if (operator === '=') return a === b;
  if (operator === '<>') return a !== b;
  return null;
}

function exact(operator: Arithmetic, a: bigint, b: bigint): bigint | null {
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

function toDouble(value: SelectorValue): number | null {
  if (typeof value === 'number') return value;
  return typeof value === 'bigint' ? Number(value) : null;
}

/** Exact values stay exact (division truncates); anything approximate makes the sum a double. */
function calculate(operator: Arithmetic, a: SelectorValue, b: SelectorValue): SelectorValue {
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

function negate(value: SelectorValue): SelectorValue {
  return typeof value === 'bigint' || typeof value === 'number' ? -value : null;
}

function plus(value: SelectorValue): SelectorValue {
  return isNumeric(value) ? value : null;
}

function not(value: SelectorValue): boolean | null {
  return typeof value === 'boolean' ? !value : null;
}

function allOf(operands: readonly Evaluate[]): Evaluate {
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

function anyOf(operands: readonly Evaluate[]): Evaluate {
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
const ANY_CHARACTER = 0;
const ANY_SEQUENCE = 1;
type LikeItem = string | typeof ANY_CHARACTER | typeof ANY_SEQUENCE;

/** The index after the character (code point) at `at`. */
function nextCharacter(text: string, at: number): number {
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
function likeMatches(items: readonly LikeItem[], text: string): boolean {
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
function likeItems(pattern: string, escape: string | null): LikeItem[] | number {
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

// ---------------------------------------------------------------------------------------------
// Parsing, with the static checks the spec allows at compile time

/** What the parser knows of an operand before any message is seen. */
type StaticType = 'boolean' | 'number' | 'string' | 'dynamic';

interface Operand {
  readonly type: StaticType;
  readonly evaluate: Evaluate;
  readonly position: number;
  /** How an error message names it: "string 'abc'", "identifier 'a'", "a condition". */
  readonly description: string;
  /** The identifier's name when the operand is one (IN, LIKE and IS need an identifier). */
  readonly identifier: string | null;
}

const COMPARISONS: ReadonlySet<string> = new Set(['=', '<>', '<', '<=', '>', '>=']);
const ADDITIVE: ReadonlySet<string> = new Set(['+', '-']);
const MULTIPLICATIVE: ReadonlySet<string> = new Set(['*', '/']);
const COMMA: ReadonlySet<string> = new Set([',']);

/** Grammar, loosest binding first (JMS 2.0, 3.8.1.1):
 *    selector       := [or] end
 *    or             := and (OR and)*
 *    and            := not (AND not)*
 *    not            := NOT not | predicate
 *    predicate      := additive [comparison additive | [NOT] BETWEEN additive AND additive
 *                      | [NOT] IN '(' string (',' string)* ')'
 *                      | [NOT] LIKE string [ESCAPE string] | IS [NOT] NULL]
 *    additive       := multiplicative (('+' | '-') multiplicative)*
 *    multiplicative := unary (('*' | '/') unary)*
 *    unary          := ('+' | '-') unary | primary
 *    primary        := '(' or ')' | string | number | TRUE | FALSE | identifier
 */
class Parser {
  readonly #text: string;
  readonly #tokens: readonly Token[];
  #index = 0;
  #depth = 0;

  constructor(text: string, tokens: readonly Token[]) {
    this.#text = text;
    this.#tokens = tokens;
  }

  parse(): Evaluate {
    const operand = this.#or();
    const end = this.#peek();
    if (end.kind !== 'end') this.#expected('AND, OR or the end of the selector', end);
    this.#requireCondition(operand);
    return operand.evaluate;
  }

  #peek(): Token {
    // The 'end' token is never consumed, so the index stays in range.
    return this.#tokens[this.#index] as Token;
  }

  #next(): Token {
    const token = this.#peek();
    if (token.kind !== 'end') this.#index += 1;
    return token;
  }

  #acceptKeyword(keyword: string): Token | undefined {
    const token = this.#peek();
    return token.kind === 'keyword' && token.value === keyword ? this.#next() : undefined;
  }

  #acceptOperator(operators: ReadonlySet<string>): Token | undefined {
    const token = this.#peek();
    return token.kind === 'operator' && operators.has(token.value) ? this.#next() : undefined;
  }

  #expectOperator(operator: string): void {
    const token = this.#peek();
    if (token.kind !== 'operator' || token.value !== operator) {
      this.#expected(`'${operator}'`, token);
    }
    this.#next();
  }

  #fail(message: string, position: number): never {
    throw selectorError(this.#text, message, position);
  }

  #expected(what: string, token: Token): never {
    this.#fail(`expected ${what} at position ${token.position}, found ${describeToken(token)}`,
      token.position);
  }

  #enter(token: Token): void {
    this.#depth += 1;
    if (this.#depth > SELECTOR_DEPTH_MAX) {
      this.#fail(`nested more than ${SELECTOR_DEPTH_MAX} levels deep (parentheses, NOT and ` +
        `signs) at position ${token.position}`, token.position);
    }
  }

  #leave(): void {
    this.#depth -= 1;
  }

  #requireCondition(operand: Operand): void {
    if (operand.type !== 'boolean' && operand.type !== 'dynamic') {
      this.#fail(`expected a condition at position ${operand.position}, found ` +
        operand.description, operand.position);
    }
  }

  #requireNumber(operand: Operand): void {
    if (operand.type !== 'number' && operand.type !== 'dynamic') {
      this.#fail(`expected a number at position ${operand.position}, found ` +
        operand.description, operand.position);
    }
  }

  #requireIdentifier(operand: Operand, keyword: string): string {
    if (operand.identifier === null) {
      this.#fail(`expected an identifier before ${keyword} at position ${operand.position}, ` +
        `found ${operand.description}`, operand.position);
    }
    return operand.identifier;
  }

  #or(): Operand {
    return this.#logical('OR', () => this.#and());
  }

  #and(): Operand {
    return this.#logical('AND', () => this.#not());
  }

  /** Chains of one operator become one n-ary node, so long chains do not nest closures. */
  #logical(keyword: 'AND' | 'OR', parseOperand: () => Operand): Operand {
    const first = parseOperand();
    const operands = [first];
    while (this.#acceptKeyword(keyword) !== undefined) operands.push(parseOperand());
    if (operands.length === 1) return first;
    for (const operand of operands) this.#requireCondition(operand);
    const evaluates = operands.map((operand) => operand.evaluate);
    return {
      type: 'boolean',
      evaluate: keyword === 'AND' ? allOf(evaluates) : anyOf(evaluates),
      position: first.position,
      description: 'a condition',
      identifier: null,
    };
  }

  #not(): Operand {
    const keyword = this.#acceptKeyword('NOT');
    if (keyword === undefined) return this.#predicate();
    this.#enter(keyword);
    const operand = this.#not();
    this.#leave();
    this.#requireCondition(operand);
    const evaluate = operand.evaluate;
    return this.#condition(keyword.position, (lookup) => not(evaluate(lookup)));
  }

  #condition(position: number, evaluate: Evaluate): Operand {
    return { type: 'boolean', evaluate, position, description: 'a condition', identifier: null };
  }

  #predicate(): Operand {
    const left = this.#additive();
    const comparison = this.#acceptOperator(COMPARISONS);
    if (comparison !== undefined) return this.#comparison(left, comparison);
    const negation = this.#acceptKeyword('NOT');
    const token = this.#peek();
    const keyword = token.kind === 'keyword' ? token.value : '';
    if (keyword === 'BETWEEN') return this.#between(left, negation !== undefined);
    if (keyword === 'IN') return this.#in(left, negation !== undefined);
    if (keyword === 'LIKE') return this.#like(left, negation !== undefined);
    if (negation !== undefined) this.#expected('BETWEEN, IN or LIKE after NOT', token);
    if (keyword === 'IS') return this.#isNull(left);
    return left;
  }

  #comparison(left: Operand, token: Token): Operand {
    const operator = token.value as Comparison;
    const right = this.#additive();
    const ordered = operator !== '=' && operator !== '<>';
    for (const side of [left, right]) {
      if (ordered && (side.type === 'string' || side.type === 'boolean')) {
        this.#fail(`'${operator}' at position ${token.position} cannot order ` +
          `${side.description}: strings and booleans compare only with = and <>`, token.position);
      }
    }
    if (left.type !== 'dynamic' && right.type !== 'dynamic' && left.type !== right.type) {
      this.#fail(`cannot compare ${left.description} with ${right.description} at position ` +
        `${token.position}`, token.position);
    }
    const [first, second] = [left.evaluate, right.evaluate];
    return this.#condition(left.position,
      (lookup) => compare(operator, first(lookup), second(lookup)));
  }

  #between(left: Operand, negated: boolean): Operand {
    this.#next();
    const low = this.#additive();
    const and = this.#peek();
    if (and.kind !== 'keyword' || and.value !== 'AND') this.#expected('AND in BETWEEN', and);
    this.#next();
    const high = this.#additive();
    for (const operand of [left, low, high]) this.#requireNumber(operand);
    const [value, lowest, highest] = [left.evaluate, low.evaluate, high.evaluate];
    // Kleene logic keeps De Morgan's laws, so NOT BETWEEN (x < low OR x > high) is NOT (...).
    return this.#condition(left.position, (lookup) => {
      const x = value(lookup);
      const above = compare('>=', x, lowest(lookup));
      if (above === false) return negated;
      const below = compare('<=', x, highest(lookup));
      if (below === false) return negated;
      return above === null || below === null ? null : !negated;
    });
  }

  #in(left: Operand, negated: boolean): Operand {
    const name = this.#requireIdentifier(left, 'IN');
    this.#next();
    this.#expectOperator('(');
    const values = new Set<string>();
    do {
      const token = this.#peek();
      if (token.kind !== 'string') this.#expected('a string literal in the IN list', token);
      values.add(this.#next().value);
    } while (this.#acceptOperator(COMMA) !== undefined);
    this.#expectOperator(')');
    return this.#condition(left.position, (lookup) => {
      const value = lookup(name);
      return typeof value === 'string' ? values.has(value) !== negated : null;
    });
  }

  #like(left: Operand, negated: boolean): Operand {
    const name = this.#requireIdentifier(left, 'LIKE');
    this.#next();
    const pattern = this.#peek();
    if (pattern.kind !== 'string') this.#expected('a string literal pattern after LIKE', pattern);
    this.#next();
    let escape: string | null = null;
    if (this.#acceptKeyword('ESCAPE') !== undefined) {
      const token = this.#peek();
      if (token.kind !== 'string') this.#expected('a string literal after ESCAPE', token);
      if ([...token.value].length !== 1) {
        this.#expected('a single escape character after ESCAPE', token);
      }
      escape = this.#next().value;
    }
    const items = likeItems(pattern.value, escape);
    if (typeof items === 'number') {
      this.#fail(`the LIKE pattern at position ${pattern.position} ends with its escape ` +
        `character, which escapes nothing`, pattern.position);
    }
    return this.#condition(left.position, (lookup) => {
      const value = lookup(name);
      return typeof value === 'string' ? likeMatches(items, value) !== negated : null;
    });
  }

  #isNull(left: Operand): Operand {
    const name = this.#requireIdentifier(left, 'IS');
    this.#next();
    const negated = this.#acceptKeyword('NOT') !== undefined;
    const token = this.#peek();
    if (token.kind !== 'keyword' || token.value !== 'NULL') {
      this.#expected(negated ? 'NULL after IS NOT' : 'NULL or NOT NULL after IS', token);
    }
    this.#next();
    return this.#condition(left.position,
      (lookup) => (normalize(lookup(name)) === null) !== negated);
  }

  #additive(): Operand {
    return this.#arithmetic(ADDITIVE, () => this.#multiplicative());
  }

  #multiplicative(): Operand {
    return this.#arithmetic(MULTIPLICATIVE, () => this.#unary());
  }

  #arithmetic(operators: ReadonlySet<string>, parseOperand: () => Operand): Operand {
    let left = parseOperand();
    for (;;) {
      const token = this.#acceptOperator(operators);
      if (token === undefined) return left;
      const right = parseOperand();
      this.#requireNumber(left);
      this.#requireNumber(right);
      const operator = token.value as Arithmetic;
      const [first, second] = [left.evaluate, right.evaluate];
      left = {
        type: 'number',
        evaluate: (lookup) => calculate(operator, first(lookup), second(lookup)),
        position: left.position,
        description: 'an arithmetic expression',
        identifier: null,
      };
    }
  }

  #unary(): Operand {
    const sign = this.#acceptOperator(ADDITIVE);
    if (sign === undefined) return this.#primary();
    const following = this.#peek();
    if (following.kind === 'exact' || following.kind === 'approximate') {
      return this.#number(this.#next(), sign);
    }
    this.#enter(sign);
    const operand = this.#unary();
    this.#leave();
    this.#requireNumber(operand);
    const evaluate = operand.evaluate;
    return {
      type: 'number',
      evaluate: sign.value === '-' ? (lookup) => negate(evaluate(lookup))
        : (lookup) => plus(evaluate(lookup)),
      position: sign.position,
      description: 'an arithmetic expression',
      identifier: null,
    };
  }

  /** A numeric literal, with the sign before it folded in (so -9223372036854775808 fits). */
  #number(token: Token, sign: Token | undefined): Operand {
    const negative = sign?.value === '-';
    const position = sign?.position ?? token.position;
    const written = `${sign?.value ?? ''}${token.text}`;
    let value: number | bigint;
    if (token.kind === 'exact') {
      value = negative ? -BigInt(token.text) : BigInt(token.text);
      if (value < LONG_MIN || value > LONG_MAX) {
        this.#fail(`number ${written} at position ${position} is out of the range of a long ` +
          `(-2^63 to 2^63 - 1)`, position);
      }
    } else {
      value = negative ? -Number(token.text) : Number(token.text);
    }
    return this.#literal(value, `number ${written}`, position);
  }

  #literal(value: SelectorValue, description: string, position: number): Operand {
    const type = typeof value === 'string' ? 'string'
      : typeof value === 'boolean' ? 'boolean' : 'number';
    return { type, evaluate: () => value, position, description, identifier: null };
  }

  #primary(): Operand {
    const token = this.#next();
    switch (token.kind) {
      case 'identifier': {
        const name = token.value;
        return {
          type: 'dynamic',
          evaluate: (lookup) => normalize(lookup(name)),
          position: token.position,
          description: `identifier '${token.text}'`,
          identifier: name,
        };
      }
      case 'string':
        return this.#literal(token.value, describeToken(token), token.position);
      case 'exact':
      case 'approximate':
        return this.#number(token, undefined);
      case 'operator':
        if (token.value === '(') return this.#parenthesized(token);
        break;
      case 'keyword':
        if (token.value === 'TRUE' || token.value === 'FALSE') {
          return this.#literal(token.value === 'TRUE', token.value, token.position);
        }
        this.#fail(`expected an operand at position ${token.position}, found keyword ` +
          `'${token.text}' (` + (token.value === 'NULL'
          ? 'NULL appears only in IS [NOT] NULL)' : 'keywords cannot be identifiers)'),
        token.position);
      case 'end':
        break;
    }
    this.#expected('an operand', token);
  }

  #parenthesized(open: Token): Operand {
    this.#enter(open);
    const operand = this.#or();
    this.#expectOperator(')');
    this.#leave();
    return operand;
  }
}

/**
 * Compiles a selector. Empty or all-whitespace text selects every message.
 * Throws SanmqError E_BAD_SELECTOR for text that is too long, malformed or mistyped.
 */
export function compileSelector(text: string): Selector {
  if (typeof text !== 'string') {
    throw new SanmqError('E_BAD_SELECTOR', 'selector: a selector must be a string',
      { selector: null, position: 0 });
  }
  if (text.length > SELECTOR_LENGTH_MAX) {
    throw selectorError(text, `longer than ${SELECTOR_LENGTH_MAX} characters (the limit) at ` +
      `position ${SELECTOR_LENGTH_MAX}`, SELECTOR_LENGTH_MAX);
  }
  const tokens = tokenize(text);
  const evaluate: Evaluate = tokens.length === 1 ? () => true : new Parser(text, tokens).parse();
  return Object.freeze({ text, matches: (lookup: SelectorLookup) => evaluate(lookup) === true });
}
