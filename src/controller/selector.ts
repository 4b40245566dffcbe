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
import { describeToken, selectorError, tokenize, type Token } from './selector-tokens.js';
import {
  allOf,
  anyOf,
  calculate,
  compare,
  likeItems,
  likeMatches,
  negate,
  normalize,
  not,
  plus,
  type Arithmetic,
  type Comparison,
  type Evaluate,
} from './selector-values.js';

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
export { SELECTOR_TOKENS_MAX } from './selector-tokens.js';
/** Deepest nesting of parentheses, NOT and unary signs, so hostile input cannot overflow the
 *  stack while compiling or evaluating. */
export const SELECTOR_DEPTH_MAX = 100;

const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;

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
