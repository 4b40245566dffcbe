/**
 * The tokens of a JMS message selector (selector.ts): literals, identifiers, keywords and
 * operators, each with its position for error messages.
 */
import { SanmqError } from '../errors.js';

/** Most tokens in one selector; this bounds the depth of chains like `a + b + c + …`. */
export const SELECTOR_TOKENS_MAX = 1024;


export type TokenKind =
  | 'identifier' | 'keyword' | 'string' | 'exact' | 'approximate' | 'operator' | 'end';

export interface Token {
  readonly kind: TokenKind;
  /** The token as written. */
  readonly text: string;
  readonly position: number;
  /** A keyword in upper case; a string literal's value with '' undone; otherwise the text. */
  readonly value: string;
}

export const KEYWORDS = new Set([
  'NULL', 'TRUE', 'FALSE', 'NOT', 'AND', 'OR', 'BETWEEN', 'LIKE', 'IN', 'IS', 'ESCAPE',
]);
/** Two-character operators come first so that `<=` is not read as `<` then `=`. */
export const OPERATORS = ['<>', '<=', '>=', '=', '<', '>', '+', '-', '*', '/', '(', ')', ','];
export const WHITESPACE = /\s+/y;
/** Java identifier start and part characters (Character.isJavaIdentifierStart/Part). */
export const IDENTIFIER = /[\p{L}\p{Nl}\p{Sc}\p{Pc}][\p{L}\p{Nl}\p{Sc}\p{Pc}\p{Nd}\p{Mn}\p{Mc}\p{Cf}]*/uy;
export const IDENTIFIER_PART = /[\p{L}\p{Nl}\p{Sc}\p{Pc}\p{Nd}\p{Mn}\p{Mc}\p{Cf}.]/u;
export const NUMBER = /(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/y;
/** Keywords match in any case, but only in ASCII: 'ın' must not become IN by toUpperCase. */
export const ASCII_WORD = /^[A-Za-z]+$/;

export function selectorError(text: string, message: string, position: number): SanmqError {
  return new SanmqError('E_BAD_SELECTOR', `selector: ${message}`, { selector: text, position });
}

export function describeToken(token: Token): string {
  if (token.kind === 'end') return 'the end of the selector';
  const shown = token.text.length > 40 ? `${token.text.slice(0, 37)}...` : token.text;
  return token.kind === 'string' ? `string ${shown}` : `'${shown}'`;
}

export function readString(text: string, start: number): Token {
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

export function readWord(text: string, start: number): Token | undefined {
  IDENTIFIER.lastIndex = start;
  const word = IDENTIFIER.exec(text)?.[0];
  if (word === undefined) return undefined;
  const upper = word.toUpperCase();
  if (ASCII_WORD.test(word) && KEYWORDS.has(upper)) {
    return { kind: 'keyword', text: word, position: start, value: upper };
  }
  return { kind: 'identifier', text: word, position: start, value: word };
}

export function readNumber(text: string, start: number): Token | undefined {
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

export function readToken(text: string, start: number): Token {
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
export function tokenize(text: string): Token[] {
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
