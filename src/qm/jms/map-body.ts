/**
 * The body of a JMS MapMessage as IBM MQ's JMS writes it (message body format jms_map): one
 * XML element per entry, in the map's key order.
 *
 *     <map>
 *       <elt name="count" dt="i8">5</elt>          bigint (a Java long), decimal
 *       <elt name="price" dt="r8">2.5</elt>        number (a Java double)
 *       <elt name="ok" dt="boolean">true</elt>     boolean: true or false
 *       <elt name="data" dt="bin.hex">DEAD</elt>   bytes, two upper-case hex digits each
 *       <elt name="label">a&lt;b</elt>             string: no dt
 *       <elt name="gone" xsi:nil="true"></elt>     null (our own convention; IBM has none)
 *     </map>
 *
 * written with no whitespace between the elements. A double is written in JavaScript's
 * shortest text that reads back to the same number, with '-0', 'NaN', 'INF' and '-INF' for the
 * values that have no decimal form. In names and values &, <, >, " and ' are written as
 * entities. Characters XML 1.0 does not allow (control characters other than tab and line
 * feed, lone surrogates, U+FFFE and U+FFFF) and carriage returns, which XML parsers would turn
 * into line feeds, are written as references like `&#x1;`, so that a round trip is exact; XML
 * 1.1 allows such references to control characters, XML 1.0 does not. Attribute values
 * write tab and line feed as references too, since XML parsers turn them into spaces.
 *
 * The decoder reads what the encoder writes and what IBM MQ's JMS writes: whitespace between
 * elements, either quote around attributes, self-closing elements, entity and character
 * references, and IBM's other types (i1, i2, i4 as bigint; r4 as number; char and string as
 * string). It rejects everything else (unknown types, duplicate or empty names, other
 * elements, text between elements, unterminated tags) with E_INVALID_ARGUMENT and the
 * position of the fault. It reads the input once, left to right, without recursion.
 */
import { SanmqError } from '../../errors.js';

export type MapValue = string | number | bigint | boolean | Uint8Array | null;
export type MapBody = Record<string, MapValue>;

const LONG_MIN = -(2n ** 63n);
const LONG_MAX = 2n ** 63n - 1n;

/** Characters written as references: the five XML specials, carriage return and everything
 *  outside XML 1.0's Char production. With the u flag a lone surrogate is one code point. */
const TEXT_ESCAPED = /[&<>"'\r]|[^\t\n\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
const ATTRIBUTE_ESCAPED = /[&<>"'\t\n\r]|[^\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
/** Raw characters the decoder refuses: those XML 1.0 does not allow. */
const NOT_XML = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

const ENTITIES: Readonly<Record<string, string>> = {
  '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;',
};
const NAMED: Readonly<Record<string, string>> = {
  amp: '&', lt: '<', gt: '>', quot: '"', apos: "'",
};

function invalid(message: string, details: Record<string, unknown> = {}): SanmqError {
  return new SanmqError('E_INVALID_ARGUMENT', message, details);
}

// ---------------------------------------------------------------------------------------------
// Encoding

function escapeXml(text: string, escaped: RegExp): string {
  return text.replace(escaped, (character) =>
    ENTITIES[character] ??
      `&#x${(character.codePointAt(0) ?? 0).toString(16).toUpperCase()};`);
}

function formatDouble(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return 'INF';
  if (value === -Infinity) return '-INF';
  // String(-0) is '0', which would lose the sign.
  return Object.is(value, -0) ? '-0' : String(value);
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .toString('hex').toUpperCase();
}

/** The dt attribute (undefined for a string) and the element's text. */
function typed(name: string, value: unknown): [string | undefined, string] {
  switch (typeof value) {
    case 'string':
      return [undefined, escapeXml(value, TEXT_ESCAPED)];
    case 'boolean':
      return ['boolean', String(value)];
    case 'number':
      return ['r8', formatDouble(value)];
    case 'bigint':
      if (value < LONG_MIN || value > LONG_MAX) {
        throw invalid(`map entry '${name}': ${value} does not fit in a JMS long (i8, 64 bits)`,
          { name });
      }
      return ['i8', value.toString()];
    default:
      if (value instanceof Uint8Array) return ['bin.hex', hex(value)];
      throw invalid(`map entry '${name}' must be a string, number, bigint, boolean, ` +
        'Uint8Array or null', { name });
  }
}

/** The XML text of a MapMessage body; throws E_INVALID_ARGUMENT for an empty name, a value of
 *  no map type, or a bigint outside the range of a Java long. */
export function encodeMapBody(map: MapBody): string {
  if (typeof map !== 'object' || map === null || Array.isArray(map)) {
    throw invalid('a map body must be an object of names to values');
  }
  const parts = ['<map>'];
  for (const name of Object.keys(map)) {
    if (name === '') throw invalid('a map entry name must not be empty (JMS)');
    const open = `<elt name="${escapeXml(name, ATTRIBUTE_ESCAPED)}"`;
    const value: unknown = map[name];
    if (value === null) {
      parts.push(`${open} xsi:nil="true"></elt>`);
      continue;
    }
    const [dt, text] = typed(name, value);
    parts.push(`${open}${dt === undefined ? '' : ` dt="${dt}"`}>${text}</elt>`);
  }
  parts.push('</map>');
  return parts.join('');
}

// ---------------------------------------------------------------------------------------------
// Decoding

const REFERENCE = /&(?:(amp|lt|gt|quot|apos)|#([0-9]{1,8})|#x([0-9A-Fa-f]{1,6}));/y;
const ATTRIBUTE_NAME = /[A-Za-z_:][A-Za-z0-9_:.-]*/y;
const WHITESPACE = /[ \t\r\n]*/y;

interface Tag {
  readonly attributes: ReadonlyMap<string, string>;
  readonly selfClosing: boolean;
}

/** A cursor over the XML text; every failure is E_INVALID_ARGUMENT with its position. */
class Reader {
  readonly #text: string;
  #at = 0;

  constructor(text: string) {
    this.#text = text;
  }

  get at(): number {
    return this.#at;
  }

  fail(message: string, position = this.#at): never {
    throw invalid(`map body: ${message} at position ${position}`, { position });
  }

  #found(): string {
    if (this.#at >= this.#text.length) return 'the end of the text';
    return JSON.stringify(this.#text.slice(this.#at, this.#at + 12));
  }

  /** Skips XML whitespace and says whether there was any. */
  skipSpace(): boolean {
    WHITESPACE.lastIndex = this.#at;
    WHITESPACE.test(this.#text);
    const skipped = WHITESPACE.lastIndex > this.#at;
    this.#at = WHITESPACE.lastIndex;
    return skipped;
  }

  accept(literal: string): boolean {
    if (!this.#text.startsWith(literal, this.#at)) return false;
    this.#at += literal.length;
    return true;
  }

  expect(literal: string): void {
    if (!this.accept(literal)) this.fail(`expected '${literal}', found ${this.#found()}`);
  }

  expectEnd(): void {
    this.skipSpace();
    if (this.#at < this.#text.length) {
      this.fail(`expected the end of the text after '</map>', found ${this.#found()}`);
    }
  }

  /** The end tag of `element`, whitespace allowed before its '>'. */
  endTag(element: string): void {
    this.expect(`</${element}`);
    this.skipSpace();
    this.expect('>');
  }

  /** The attributes of a start tag whose name has been read, through its '>' or '/>'. */
  tag(): Tag {
    const attributes = new Map<string, string>();
    for (;;) {
      const spaced = this.skipSpace();
      if (this.accept('>')) return { attributes, selfClosing: false };
      if (this.accept('/>')) return { attributes, selfClosing: true };
      if (!spaced) this.fail(`expected whitespace, '>' or '/>', found ${this.#found()}`);
      const start = this.#at;
      ATTRIBUTE_NAME.lastIndex = start;
      const name = ATTRIBUTE_NAME.exec(this.#text)?.[0];
      if (name === undefined) this.fail(`expected an attribute name, found ${this.#found()}`);
      this.#at += name.length;
      if (attributes.has(name)) this.fail(`attribute ${name} is repeated`, start);
      this.skipSpace();
      this.expect('=');
      this.skipSpace();
      attributes.set(name, this.#attributeValue());
    }
  }

  #attributeValue(): string {
    const quote = this.#text[this.#at];
    if (quote !== '"' && quote !== "'") this.fail(`expected a quote, found ${this.#found()}`);
    const start = this.#at + 1;
    const end = this.#text.indexOf(quote, start);
    if (end < 0) this.fail('unterminated attribute value', this.#at);
    const raw = this.#text.slice(start, end);
    const less = raw.indexOf('<');
    if (less >= 0) this.fail("'<' in an attribute value", start + less);
    this.#at = end + 1;
    // XML parsers turn each tab, line feed and carriage return in an attribute into a space.
    return this.#unescape(raw.replace(/\r\n|[\t\n\r]/g, ' '), start);
  }

  /** The character data up to the next '<', with references resolved. */
  text(): string {
    const start = this.#at;
    const end = this.#text.indexOf('<', start);
    if (end < 0) this.fail('unterminated element: no end tag', start);
    this.#at = end;
    // XML parsers turn CR LF and a lone CR into a line feed.
    return this.#unescape(this.#text.slice(start, end).replace(/\r\n?/g, '\n'), start);
  }

  #unescape(raw: string, start: number): string {
    const bad = NOT_XML.exec(raw);
    if (bad !== null) {
      const code = (bad[0].codePointAt(0) ?? 0).toString(16).toUpperCase();
      this.fail(`character U+${code.padStart(4, '0')} is not allowed in XML ` +
        `(write it as &#x${code};)`, start + bad.index);
    }
    let result = '';
    let from = 0;
    for (let ampersand = raw.indexOf('&'); ampersand >= 0;
      ampersand = raw.indexOf('&', from)) {
      result += raw.slice(from, ampersand);
      REFERENCE.lastIndex = ampersand;
      const match = REFERENCE.exec(raw);
      if (match === null) this.fail('malformed entity or character reference', start + ampersand);
      const [, named, decimal, hexadecimal] = match;
      const code = named === undefined
        ? Number.parseInt(decimal ?? hexadecimal ?? '', decimal === undefined ? 16 : 10) : 0;
      if (code > 0x10ffff) this.fail('character reference beyond U+10FFFF', start + ampersand);
      result += named === undefined ? String.fromCodePoint(code) : NAMED[named];
      from = REFERENCE.lastIndex;
    }
    return result + raw.slice(from);
  }
}

/** Integer types by dt: their width in bits. IBM writes i1, i2 and i4 for byte, short, int. */
const INTEGER_BITS: Readonly<Record<string, bigint>> = { i1: 8n, i2: 16n, i4: 32n, i8: 64n };
const INTEGER = /^[+-]?[0-9]{1,19}$/;
const DOUBLE = /^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;
const SPECIAL_DOUBLES: Readonly<Record<string, number>> = {
  'NaN': NaN, 'INF': Infinity, '+INF': Infinity, '-INF': -Infinity,
  // Java's Double.toString spells them out.
  'Infinity': Infinity, '-Infinity': -Infinity,
};
const HEX = /^(?:[0-9A-Fa-f]{2})*$/;

/** The value an element's dt and text stand for; `fail` names the element's position. */
function valueOf(dt: string | undefined, text: string, fail: (message: string) => never):
  MapValue {
  const bits = dt === undefined ? undefined : INTEGER_BITS[dt];
  if (bits !== undefined) {
    if (!INTEGER.test(text)) fail(`${dt} value ${JSON.stringify(text)} is not an integer`);
    const value = BigInt(text);
    const limit = 2n ** (bits - 1n);
    if (value < -limit || value >= limit) fail(`${dt} value ${text} is out of range`);
    return value;
  }
  switch (dt) {
    case undefined:
    case 'string':
      return text;
    case 'char':
      if (text.length !== 1) fail(`char value ${JSON.stringify(text)} is not one character`);
      return text;
    case 'boolean':
      if (text !== 'true' && text !== 'false') fail(`boolean value ${JSON.stringify(text)}`);
      return text === 'true';
    case 'r4':
    case 'r8': {
      const special = Object.hasOwn(SPECIAL_DOUBLES, text) ? SPECIAL_DOUBLES[text] : undefined;
      if (special !== undefined) return special;
      if (!DOUBLE.test(text)) fail(`${dt} value ${JSON.stringify(text)} is not a number`);
      return Number(text);
    }
    case 'bin.hex':
      if (!HEX.test(text)) fail(`bin.hex value ${JSON.stringify(text)} is not pairs of hex digits`);
      return Uint8Array.from(Buffer.from(text, 'hex'));
    default:
      return fail(`unknown dt ${JSON.stringify(dt)}`);
  }
}

/** One <elt>: its name and value. */
function readEntry(reader: Reader): [string, MapValue] {
  const start = reader.at;
  const fail: (message: string) => never =
    (message) => reader.fail(`element: ${message}`, start);
  reader.expect('<elt');
  const { attributes, selfClosing } = reader.tag();
  for (const attribute of attributes.keys()) {
    if (attribute !== 'name' && attribute !== 'dt' && attribute !== 'xsi:nil') {
      fail(`unexpected attribute ${attribute}`);
    }
  }
  const name = attributes.get('name');
  if (name === undefined || name === '') fail('a non-empty name attribute is required');
  const text = selfClosing ? '' : reader.text();
  if (!selfClosing) reader.endTag('elt');
  const dt = attributes.get('dt');
  const nil = attributes.get('xsi:nil');
  if (nil === undefined) return [name, valueOf(dt, text, fail)];
  if (nil !== 'true') fail(`xsi:nil must be "true", found ${JSON.stringify(nil)}`);
  if (dt !== undefined || text !== '') fail('a nil element has no dt and no text');
  return [name, null];
}

/** The map a MapMessage body holds; throws E_INVALID_ARGUMENT for anything but a well-formed
 *  body (see the top of this file). */
export function decodeMapBody(xml: string): MapBody {
  if (typeof xml !== 'string') throw invalid('a map body must be a string of XML');
  const reader = new Reader(xml);
  const map: MapBody = {};
  reader.skipSpace();
  reader.expect('<map');
  const { attributes, selfClosing } = reader.tag();
  if (attributes.size > 0) reader.fail('the map element takes no attributes');
  if (!selfClosing) {
    for (;;) {
      reader.skipSpace();
      if (reader.accept('</')) break;
      const start = reader.at;
      const [name, value] = readEntry(reader);
      if (Object.hasOwn(map, name)) reader.fail(`name ${JSON.stringify(name)} is repeated`, start);
      // defineProperty, since assigning to a key named __proto__ would set the prototype.
      Object.defineProperty(map, name, { value, enumerable: true, writable: true,
        configurable: true });
    }
    reader.expect('map');
    reader.skipSpace();
    reader.expect('>');
  }
  reader.expectEnd();
  return map;
}
