/**
 * JMS MapMessage bodies in IBM MQ's jms_map XML (src/qm/jms/map-body.ts): the exact text of a
 * worked example, exact round trips of every value type (special doubles, control characters,
 * lone surrogates, bytes), what the decoder accepts from other writers, and the malformed
 * bodies it refuses.
 */
import fc from 'fast-check';
import t from 'tap';

import { SanmqError } from '../src/errors.js';
import {
  decodeMapBody,
  encodeMapBody,
  type MapBody,
  type MapValue,
} from '../src/qm/jms/map-body.js';

/** Values equal as the round trip must keep them: -0 is not 0, NaN is NaN, bytes by content. */
function sameValue(a: MapValue | undefined, b: MapValue | undefined): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    return Buffer.compare(a, b) === 0;
  }
  return Object.is(a, b);
}

function sameMap(a: MapBody, b: MapBody): boolean {
  const names = Object.keys(a);
  return names.length === Object.keys(b).length &&
    names.every((name, index) => Object.keys(b)[index] === name &&
      Object.hasOwn(b, name) && sameValue(a[name], b[name]));
}

function roundTrip(map: MapBody): MapBody {
  return decodeMapBody(encodeMapBody(map));
}

function errorOf(action: () => unknown): SanmqError | undefined {
  try {
    action();
    return undefined;
  } catch (error) {
    if (error instanceof SanmqError) return error;
    throw error;
  }
}

t.test('a worked example encodes to exactly the documented text and back', async (t) => {
  const map: MapBody = {
    count: 5n, price: 2.5, ok: true, data: Uint8Array.of(0xde, 0xad), label: 'a<b', gone: null,
  };
  const xml = '<map><elt name="count" dt="i8">5</elt><elt name="price" dt="r8">2.5</elt>' +
    '<elt name="ok" dt="boolean">true</elt><elt name="data" dt="bin.hex">DEAD</elt>' +
    '<elt name="label">a&lt;b</elt><elt name="gone" xsi:nil="true"></elt></map>';
  t.equal(encodeMapBody(map), xml);
  t.ok(sameMap(decodeMapBody(xml), map));
});

t.test('an empty map is <map></map> and <map/> reads as one too', async (t) => {
  t.equal(encodeMapBody({}), '<map></map>');
  t.same(decodeMapBody('<map></map>'), {});
  t.same(decodeMapBody('<map/>'), {});
});

t.test('strings round-trip exactly, whatever characters they hold', async (t) => {
  const strings = [
    '', ' ', 'plain', 'ünïcödé', '日本語', '😀 emoji 👍🏽', '&<>"\'',
    '&amp; is not decoded twice',
    ']]>', '\t tab \n newline', 'carriage \r return \r\n pair', '\u0000\u0001\u001f\u007f',
    '\ud800 lone high', 'lone low \udc00', '\udc00\ud800 reversed', '\ufffe\uffff', '  spaced  ',
  ];
  for (const value of strings) {
    const decoded = roundTrip({ s: value })['s'];
    t.equal(decoded, value, JSON.stringify(value));
  }
});

t.test('characters XML 1.0 does not allow are written as character references', async (t) => {
  t.equal(encodeMapBody({ s: 'a\u0001\r\ud800\ufffe' }),
    '<map><elt name="s">a&#x1;&#xD;&#xD800;&#xFFFE;</elt></map>');
  t.equal(encodeMapBody({ s: 'q"\'&' }), '<map><elt name="s">q&quot;&apos;&amp;</elt></map>');
  t.equal(encodeMapBody({ s: 'tab\tline\n' }), '<map><elt name="s">tab\tline\n</elt></map>',
    'tab and line feed are kept as they are in text');
});

t.test('names round-trip exactly, with escapes, and tab and newline become references',
  async (t) => {
    const map: MapBody = {
      'a b': 1n, '<&>"\'': 2n, 'tab\tnl\ncr\r': 3n, '😀': 4n, 'x\u0002': 5n,
    };
    t.ok(sameMap(roundTrip(map), map));
    t.equal(encodeMapBody({ 'a\t"b': true }),
      '<map><elt name="a&#x9;&quot;b" dt="boolean">true</elt></map>');
  });

t.test('a name __proto__ is an ordinary entry and sets no prototype', async (t) => {
  const map: MapBody = {};
  Object.defineProperty(map, '__proto__', { value: 'x', enumerable: true, writable: true,
    configurable: true });
  const decoded = roundTrip(map);
  t.same(Object.keys(decoded), ['__proto__']);
  t.equal(Object.getPrototypeOf(decoded), Object.prototype);
  t.equal(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value, 'x');
});

t.test('doubles round-trip exactly, NaN, infinities and -0 included', async (t) => {
  const numbers = [0, -0, 1, -1.5, 0.1, 1 / 3, 1e21, 1e-7, 5e-324, Number.MAX_VALUE,
    -Number.MIN_VALUE, 2 ** 53 + 2, NaN, Infinity, -Infinity];
  for (const value of numbers) {
    t.ok(Object.is(roundTrip({ n: value })['n'], value), String(value));
  }
  t.equal(encodeMapBody({ a: NaN, b: Infinity, c: -Infinity, d: -0 }),
    '<map><elt name="a" dt="r8">NaN</elt><elt name="b" dt="r8">INF</elt>' +
    '<elt name="c" dt="r8">-INF</elt><elt name="d" dt="r8">-0</elt></map>');
});

t.test('bigints round-trip exactly across the range of a Java long', async (t) => {
  for (const value of [0n, 1n, -1n, 2n ** 53n + 1n, 2n ** 63n - 1n, -(2n ** 63n)]) {
    t.equal(roundTrip({ i: value })['i'], value, String(value));
  }
  t.equal(encodeMapBody({ i: -(2n ** 63n) }),
    '<map><elt name="i" dt="i8">-9223372036854775808</elt></map>');
});

t.test('booleans, null and bytes round-trip exactly', async (t) => {
  const every = Uint8Array.from({ length: 256 }, (_, index) => index);
  const map: MapBody = {
    yes: true, no: false, nothing: null, empty: new Uint8Array(0), every,
    view: new Uint8Array(every.buffer, 10, 3), buffer: Buffer.from([1, 2]),
  };
  const decoded = roundTrip(map);
  t.ok(sameMap(decoded, { ...map, buffer: Uint8Array.of(1, 2) }));
  t.equal(Object.getPrototypeOf(decoded['buffer']), Uint8Array.prototype,
    'bytes decode as a plain Uint8Array, even from a Buffer');
  t.equal(encodeMapBody({ b: Uint8Array.of(0, 0xab, 0xff) }),
    '<map><elt name="b" dt="bin.hex">00ABFF</elt></map>');
  t.equal(encodeMapBody({ e: new Uint8Array(0) }), '<map><elt name="e" dt="bin.hex"></elt></map>');
});

t.test('encoding refuses empty names, values of no map type and bigints past a long',
  async (t) => {
    const cases: [unknown, RegExp][] = [
      [{ '': 'x' }, /name must not be empty/],
      [{ big: 2n ** 63n }, /'big': 9223372036854775808 does not fit in a JMS long/],
      [{ small: -(2n ** 63n) - 1n }, /does not fit in a JMS long/],
      [{ u: undefined }, /map entry 'u' must be a string, number, bigint, boolean/],
      [{ o: { nested: 1 } }, /map entry 'o' must be/],
      [{ a: [1] }, /map entry 'a' must be/],
      [null, /must be an object/],
      [[1, 2], /must be an object/],
      ['<map></map>', /must be an object/],
    ];
    for (const [map, message] of cases) {
      const error = errorOf(() => encodeMapBody(map as MapBody));
      t.equal(error?.code, 'E_INVALID_ARGUMENT', String(message));
      t.match(error?.message ?? '', message);
    }
  });

t.test('decoding accepts what other XML writers produce', async (t) => {
  const xml = ' \n<map >\n  <elt dt=\'i4\'  name = \'n\' >-7</elt>\n' +
    '  <elt name="s" dt="string">x</elt><elt name="c" dt="char">&#65;</elt>\n' +
    '  <elt name="f" dt="r4">1.5</elt><elt name="big" dt="r8">1.0E21</elt>\n' +
    '  <elt name="inf" dt="r8">Infinity</elt><elt name="hex" dt="bin.hex">abCD</elt>\n' +
    '  <elt name="empty"/><elt name="nil" xsi:nil="true"/><elt name="b" dt="i1">-128</elt>\n' +
    '  <elt name="refs">&#x1F600;&#128512;&lt;&gt;&amp;&quot;&apos;</elt>\n</map >\n';
  const expected: MapBody = {
    n: -7n, s: 'x', c: 'A', f: 1.5, big: 1e21, inf: Infinity, hex: Uint8Array.of(0xab, 0xcd),
    empty: '', nil: null, b: -128n, refs: '😀😀<>&"\'',
  };
  t.ok(sameMap(decodeMapBody(xml), expected));
});

t.test('decoding turns raw line ends and attribute whitespace as XML parsers do',
  async (t) => {
    const decoded = decodeMapBody('<map><elt name="a\tb\r\nc">x\r\ny\rz</elt></map>');
    t.same(Object.keys(decoded), ['a b c']);
    t.equal(decoded['a b c'], 'x\ny\nz');
  });

t.test('malformed bodies are refused with E_INVALID_ARGUMENT and where they go wrong',
  async (t) => {
    const cases: [string, RegExp][] = [
      ['', /expected '<map', found the end of the text at position 0/],
      ['<mapx></mapx>', /expected whitespace, '>' or '\/>'/],
      ['<map>', /expected '<elt', found the end of the text at position 5/],
      ['<map><elt name="a">1</elt>', /expected '<elt', found the end of the text/],
      ['<map></map><map></map>', /expected the end of the text after '<\/map>'/],
      ['<map>text</map>', /expected '<elt', found "text<\/map>" at position 5/],
      ['<map><other/></map>', /expected '<elt'/],
      ['<map><!-- c --></map>', /expected '<elt'/],
      ['<map version="1"></map>', /the map element takes no attributes/],
      ['<map><elt>1</elt></map>', /a non-empty name attribute is required at position 5/],
      ['<map><elt name="">1</elt></map>', /a non-empty name attribute is required/],
      ['<map><elt name="a" dt="i9">1</elt></map>', /unknown dt "i9"/],
      ['<map><elt name="a" type="x">1</elt></map>', /unexpected attribute type/],
      ['<map><elt name="a" name="b">1</elt></map>', /attribute name is repeated/],
      ['<map><elt name="a">1</elt><elt name="a">2</elt></map>',
        /name "a" is repeated at position 26/],
      ['<map><elt name="a">1</map>', /expected '<\/elt', found "<\/map>"/],
      ['<map><elt name="a">1', /unterminated element: no end tag at position 19/],
      ['<map><elt name="a<b">1</elt></map>', /'<' in an attribute value at position 17/],
      ['<map><elt name="a', /unterminated attribute value/],
      ['<map><elt name=a>1</elt></map>', /expected a quote/],
      ['<map><elt name"a">1</elt></map>', /expected '='/],
      ['<map><elt name="a"dt="i8">1</elt></map>', /expected whitespace, '>' or '\/>'/],
      ['<map><elt name="a">&bogus;</elt></map>', /malformed entity or character reference/],
      ['<map><elt name="a">a & b</elt></map>', /malformed entity or character reference/],
      ['<map><elt name="a">&#x110000;</elt></map>', /beyond U\+10FFFF/],
      ['<map><elt name="a">\u0001</elt></map>', /U\+0001 is not allowed in XML.*&#x1;/],
      ['<map><elt name="a">\ud800</elt></map>', /U\+D800 is not allowed in XML/],
      ['<map><elt name="a" dt="i8">1.5</elt></map>', /i8 value "1.5" is not an integer/],
      ['<map><elt name="a" dt="i8">9223372036854775808</elt></map>', /i8 value .* out of range/],
      ['<map><elt name="a" dt="i4">2147483648</elt></map>', /i4 value .* out of range/],
      ['<map><elt name="a" dt="i8">99999999999999999999</elt></map>', /is not an integer/],
      ['<map><elt name="a" dt="r8">1,5</elt></map>', /r8 value "1,5" is not a number/],
      ['<map><elt name="a" dt="r8"></elt></map>', /is not a number/],
      ['<map><elt name="a" dt="r8">0x10</elt></map>', /is not a number/],
      ['<map><elt name="a" dt="boolean">TRUE</elt></map>', /boolean value "TRUE"/],
      ['<map><elt name="a" dt="bin.hex">ABC</elt></map>', /is not pairs of hex digits/],
      ['<map><elt name="a" dt="bin.hex">GG</elt></map>', /is not pairs of hex digits/],
      ['<map><elt name="a" dt="char">ab</elt></map>', /char value "ab" is not one character/],
      ['<map><elt name="a" xsi:nil="false"></elt></map>', /xsi:nil must be "true"/],
      ['<map><elt name="a" xsi:nil="true">x</elt></map>', /a nil element has no dt and no text/],
      ['<map><elt name="a" dt="i8" xsi:nil="true"/></map>', /a nil element has no dt/],
    ];
    for (const [xml, message] of cases) {
      const error = errorOf(() => decodeMapBody(xml));
      t.equal(error?.code, 'E_INVALID_ARGUMENT', xml);
      t.match(error?.message ?? '', /^map body: /, `${xml}: says it is the map body`);
      t.match(error?.message ?? '', message, `${xml}: ${error?.message ?? 'decoded'}`);
      t.type(error?.details['position'], 'number', `${xml}: details hold the position`);
    }
  });

t.test('a decode of something other than a string is refused with E_INVALID_ARGUMENT',
  async (t) => {
    t.equal(errorOf(() => decodeMapBody(undefined as unknown as string))?.code,
      'E_INVALID_ARGUMENT');
  });

/** Strings rich in the characters that need care. */
const trickyString = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.constantFrom('&', '<', '>', '"', "'", '\r', '\n', '\t', '\u0000',
    '\ud800', '\udfff', '\ufffe', '😀', 'a', ' ', ';', '#', 'x') }),
);

const mapValue: fc.Arbitrary<MapValue> = fc.oneof(
  trickyString, fc.double(), fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
  fc.boolean(), fc.constant(null), fc.uint8Array({ maxLength: 40 }),
);

t.test('any map round-trips exactly (property)', async (t) => {
  fc.assert(fc.property(
    fc.dictionary(trickyString.filter((name) => name !== ''), mapValue, { maxKeys: 8 }),
    (map) => sameMap(roundTrip(map), map),
  ), { numRuns: 2000 });
  t.pass('every generated map came back the same');
});

t.test('random and damaged bodies decode or are refused with E_INVALID_ARGUMENT (property)',
  async (t) => {
    const damaged = fc.tuple(
      fc.dictionary(trickyString.filter((name) => name !== ''), mapValue, { maxKeys: 3 }),
      fc.nat(), fc.nat({ max: 4 }), trickyString,
    ).map(([map, at, length, junk]) => {
      const xml = encodeMapBody(map);
      const start = at % (xml.length + 1);
      return xml.slice(0, start) + junk.slice(0, 4) + xml.slice(start + length);
    });
    fc.assert(fc.property(fc.oneof(trickyString, damaged), (xml) => {
      try {
        decodeMapBody(xml);
      } catch (error) {
        if (!(error instanceof SanmqError) || error.code !== 'E_INVALID_ARGUMENT') throw error;
      }
    }), { numRuns: 5000 });
    t.pass('nothing but E_INVALID_ARGUMENT was thrown');
  });
