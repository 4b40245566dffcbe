/**
 * Character data conversion of the mq personality: known answers, round trips between EBCDIC,
 * Latin-1 and UTF-8, every byte and every BMP character of the single-byte pages against
 * Python's codecs (a python3 child), data that cannot be converted coming back as it was with
 * its MQ reason, and the blank-padded MQCHAR fields.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import t from 'tap';

import {
  convertText, decodeField, decodeText, encodeField, encodeText, isSupportedCcsid,
  MQRC_NOT_CONVERTED, MQRC_SOURCE_CCSID_ERROR, MQRC_TARGET_CCSID_ERROR, SUPPORTED_CCSIDS,
} from '../src/qm/mq/convert.js';

const CODECS: Readonly<Record<number, string>> = {
  37: 'cp037', 500: 'cp500', 819: 'latin-1', 850: 'cp850', 1252: 'cp1252',
};

/**
 * Asks Python, for each page, the code point of every byte (-1 if undefined) and the byte of
 * every BMP code point (-1 if it has none). Written apart from scripts/codepages.py on purpose.
 */
const PYTHON_PAGES = `
import json, sys
codecs = json.loads(sys.argv[1])
def decoded(codec, b):
    try: return ord(bytes([b]).decode(codec))
    except UnicodeDecodeError: return -1
def encoded(codec, c):
    try: return chr(c).encode(codec)[0]
    except UnicodeEncodeError: return -1
print(json.dumps({ccsid: {
    'decode': [decoded(codec, b) for b in range(256)],
    'encode': {c: b for c in range(0x10000) if (b := encoded(codec, c)) >= 0},
} for ccsid, codec in codecs.items()}))
`;

interface PythonPage { decode: number[]; encode: Record<string, number> }

function pythonPages(): Record<string, PythonPage> {
  const output = execFileSync('python3', ['-c', PYTHON_PAGES, JSON.stringify(CODECS)], {
    encoding: 'utf8', maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(output) as Record<string, PythonPage>;
}

const hex = (bytes: Uint8Array | undefined): string | undefined =>
  bytes === undefined ? undefined : Buffer.from(bytes).toString('hex');

/** Every printable ASCII character, and some accented Latin-1 ones all pages here have. */
const LATIN_TEXT = Array.from({ length: 95 }, (_, i) => String.fromCharCode(0x20 + i)).join('') +
  'àéîõüÀÉÎÕÜçÇñÑßæø£§°±µ¿¡';

t.test('the supported CCSIDs are 37, 500, 819, 850, 1208 and 1252', async (t) => {
  t.same(SUPPORTED_CCSIDS, [37, 500, 819, 850, 1208, 1252]);
  t.ok(SUPPORTED_CCSIDS.every(isSupportedCcsid));
  t.notOk(isSupportedCcsid(0), 'MQCCSI_Q_MGR is for the caller to resolve');
  t.notOk(isSupportedCcsid(9999));
});

t.test('Hello in CCSID 37 is C8 85 93 93 96 and decodes back', async (t) => {
  t.equal(hex(encodeText('Hello', 37)), 'c885939396');
  t.equal(decodeText(Buffer.from('c885939396', 'hex'), 37), 'Hello');
  t.equal(hex(encodeText('Hello', 500)), 'c885939396', 'letters are the same in 500');
});

t.test('text in CCSID 37 converts to UTF-8 and back unchanged', async (t) => {
  const ebcdic = encodeText(LATIN_TEXT, 37);
  if (ebcdic === undefined) throw new Error('the test text is not encodable in CCSID 37');
  const utf8 = convertText(ebcdic, 37, 1208);
  t.ok(utf8.converted);
  t.equal(utf8.bytes.toString('utf8'), LATIN_TEXT);
  const back = convertText(utf8.bytes, 1208, 37);
  t.ok(back.converted);
  t.same(back.bytes, ebcdic);
});

t.test('text in CCSID 500 converts to 819 and back unchanged', async (t) => {
  const ebcdic = encodeText(LATIN_TEXT, 500);
  if (ebcdic === undefined) throw new Error('the test text is not encodable in CCSID 500');
  const latin1 = convertText(ebcdic, 500, 819);
  t.ok(latin1.converted);
  t.same(latin1.bytes, Buffer.from(LATIN_TEXT, 'latin1'));
  const back = convertText(latin1.bytes, 819, 500);
  t.ok(back.converted);
  t.same(back.bytes, ebcdic);
});

t.test('37 to 500 moves the characters the two EBCDIC pages place differently', async (t) => {
  const source = Buffer.from('ba bb 5a 4f b0 4a 5f'.replaceAll(' ', ''), 'hex');
  t.equal(decodeText(source, 37), '[]!|^¢¬');
  const result = convertText(source, 37, 500);
  t.ok(result.converted);
  t.equal(hex(result.bytes), '4a5a4fbb5fb0ba');
  t.equal(decodeText(result.bytes, 500), '[]!|^¢¬');
  t.same(convertText(result.bytes, 500, 37).bytes, source, 'and back');
});

t.test('the committed code pages are what scripts/codepages.py writes', async (t) => {
  const script = fileURLToPath(new URL('../scripts/codepages.py', import.meta.url));
  const committed = fileURLToPath(new URL('../src/qm/mq/codepages.ts', import.meta.url));
  const generated = execFileSync('python3', [script], { encoding: 'utf8' });
  t.equal(generated, readFileSync(committed, 'utf8'));
});

t.test('every single-byte page agrees with Python byte for byte', async (t) => {
  const pages = pythonPages();
  for (const [ccsid, codec] of Object.entries(CODECS)) {
    const page = pages[ccsid];
    if (page === undefined) throw new Error(`python3 returned no page for ${ccsid}`);
    t.test(`CCSID ${ccsid} (${codec}) decodes each of the 256 bytes as Python`, async (t) => {
      const ours = Array.from({ length: 256 }, (_, byte) => {
        const text = decodeText(Uint8Array.of(byte), Number(ccsid));
        return text === undefined ? -1 : (text.codePointAt(0) ?? -2);
      });
      t.same(ours, page.decode);
    });
    t.test(`CCSID ${ccsid} (${codec}) encodes each BMP character as Python`, async (t) => {
      const mismatches: string[] = [];
      for (let code = 0; code < 0x10000; code++) {
        const ours = encodeText(String.fromCharCode(code), Number(ccsid));
        const theirs = page.encode[code];
        if ((ours === undefined ? undefined : ours[0]) !== theirs) {
          mismatches.push(`U+${code.toString(16)}: ours ${hex(ours)}, Python ${theirs}`);
        }
      }
      t.same(mismatches, []);
      t.equal(Object.keys(page.encode).length, ccsid === '1252' ? 251 : 256);
    });
  }
});

t.test('a decode longer than one chunk of code units gives the whole text', async (t) => {
  const text = LATIN_TEXT.repeat(1000);
  const ebcdic = encodeText(text, 37);
  if (ebcdic === undefined) throw new Error('the test text is not encodable in CCSID 37');
  t.equal(ebcdic.length, text.length);
  t.equal(decodeText(ebcdic, 37), text);
});

t.test('UTF-8 the target page lacks comes back unconverted with MQRC_NOT_CONVERTED',
  async (t) => {
    const cases: [string, number][] = [['price 5€', 819], ['中文', 37], ['€', 500], ['😀', 1252]];
    for (const [text, target] of cases) {
      const source = Buffer.from(text, 'utf8');
      const result = convertText(source, 1208, target);
      t.equal(result.converted, false, `${text} into ${target}`);
      t.equal(result.reasonCode, MQRC_NOT_CONVERTED);
      t.match(result.reason, new RegExp(`CCSID ${target} cannot represent`));
      t.same(result.bytes, Buffer.from(text, 'utf8'), 'the bytes are unchanged');
    }
    t.equal(hex(convertText(Buffer.from('€', 'utf8'), 1208, 1252).bytes), '80',
      'while 1252 has the euro sign');
  });

t.test('invalid UTF-8 comes back unconverted with MQRC_NOT_CONVERTED', async (t) => {
  for (const bad of ['c328', 'ff', 'e282', 'eda080', 'c0af']) {
    const source = Buffer.from(`41${bad}42`, 'hex');
    t.equal(decodeText(source, 1208), undefined, `${bad} does not decode`);
    const result = convertText(source, 1208, 37);
    t.equal(result.converted, false);
    t.equal(result.reasonCode, MQRC_NOT_CONVERTED);
    t.match(result.reason, /not valid in its CCSID 1208/);
    t.equal(hex(result.bytes), `41${bad}42`);
  }
});

t.test('an unknown source or target CCSID leaves the data with its own reason', async (t) => {
  const data = Buffer.from('Hello');
  const source = convertText(data, 9999, 819);
  t.same([source.converted, source.reasonCode], [false, MQRC_SOURCE_CCSID_ERROR]);
  t.match(source.reason, /source CCSID 9999 is not supported/);
  t.equal(source.bytes.toString(), 'Hello');
  const target = convertText(data, 819, 9999);
  t.same([target.converted, target.reasonCode], [false, MQRC_TARGET_CCSID_ERROR]);
  t.match(target.reason, /target CCSID 9999 is not supported/);
  t.equal(target.bytes.toString(), 'Hello');
  t.equal(decodeText(data, 9999), undefined);
  t.equal(encodeText('Hello', 9999), undefined);
});

t.test('the five undefined bytes of 1252 do not decode or convert', async (t) => {
  for (const byte of [0x81, 0x8d, 0x8f, 0x90, 0x9d]) {
    const source = Uint8Array.of(0x41, byte);
    t.equal(decodeText(source, 1252), undefined, `0x${byte.toString(16)}`);
    const result = convertText(source, 1252, 1208);
    t.same([result.converted, result.reasonCode], [false, MQRC_NOT_CONVERTED]);
    t.same([...result.bytes], [0x41, byte]);
  }
  t.equal(decodeText(Uint8Array.of(0x80, 0x9f), 1252), '€Ÿ', 'its defined neighbours do');
});

t.test('conversion to the same CCSID is the identity and copies nothing', async (t) => {
  const data = Buffer.from('c328', 'hex');
  const result = convertText(data, 1208, 1208);
  t.same([result.converted, result.reason, result.reasonCode], [true, undefined, undefined]);
  t.equal(result.bytes.buffer, data.buffer, 'a view of the same memory');
  t.ok(convertText(data, 9999, 9999).converted, 'even in a CCSID we do not know');
});

t.test('strings UTF-8 cannot hold and characters beyond the BMP in a page do not encode',
  async (t) => {
    t.equal(encodeText('a\ud800b', 1208), undefined, 'a lone surrogate');
    t.equal(hex(encodeText('😀', 1208)), 'f09f9880', 'a paired one is fine');
    t.equal(encodeText('😀', 819), undefined);
    t.equal(encodeText('Ā', 819), undefined);
  });

t.test('fields are padded with 0x40 in EBCDIC and 0x20 elsewhere', async (t) => {
  t.equal(hex(encodeField('MQSTR', 8, 37)), 'd4d8e2e3d9404040');
  t.equal(hex(encodeField('MQSTR', 8, 500)), 'd4d8e2e3d9404040');
  t.equal(hex(encodeField('MQSTR', 8, 819)), '4d51535452202020');
  t.equal(hex(encodeField('', 4, 1208)), '20202020');
  t.equal(hex(encodeField('é', 4, 1208)), 'c3a92020', 'UTF-8 counts bytes');
});

t.test('fields decode with trailing blanks trimmed and a NUL ending the text', async (t) => {
  t.equal(decodeField(Buffer.from('d4d8e2e3d9404040', 'hex'), 37), 'MQSTR');
  t.equal(decodeField(Buffer.from('40d4404040', 'hex'), 500), ' M', 'leading blanks stay');
  t.equal(decodeField(Buffer.from('4d5100ff20', 'hex'), 819), 'MQ', 'NUL and after ignored');
  t.equal(decodeField(Buffer.from('20200000', 'hex'), 1208), '');
  t.equal(decodeField(Buffer.from('4040', 'hex'), 819), '@@', 'not EBCDIC blanks in 819');
});

t.test('a field too long or unconvertible is E_INVALID_ARGUMENT naming it', async (t) => {
  t.throws(() => encodeField('ABCDEFGHI', 8, 37, 'MQMD Format'), {
    name: 'SanmqError', code: 'E_INVALID_ARGUMENT',
    message: 'MQMD Format "ABCDEFGHI" is 9 bytes in CCSID 37; the field holds 8',
  });
  t.throws(() => encodeField('éééé', 4, 1208, 'MQMD ApplOriginData'), {
    code: 'E_INVALID_ARGUMENT', message: /ApplOriginData "éééé" is 8 bytes in CCSID 1208/,
  });
  t.throws(() => encodeField('€', 4, 37, 'MQMD ReplyToQ'), {
    code: 'E_INVALID_ARGUMENT',
    message: 'MQMD ReplyToQ "€" has characters that CCSID 37 cannot represent',
  });
  t.throws(() => encodeField('A', 4, 9999), {
    code: 'E_INVALID_ARGUMENT', message: 'field: CCSID 9999 is not supported',
  });
});

t.test('an undecodable field is E_INVALID_ARGUMENT naming it', async (t) => {
  t.throws(() => decodeField(Buffer.from('41ff20', 'hex'), 1208, 'MQMD PutApplName'), {
    code: 'E_INVALID_ARGUMENT', message: 'MQMD PutApplName is not valid in CCSID 1208: 0x41ff20',
  });
  t.throws(() => decodeField(Uint8Array.of(0x81), 1252), {
    code: 'E_INVALID_ARGUMENT', message: /^field is not valid in CCSID 1252/,
  });
});
