import test from 'ava';
import { escapeControls } from '../../src/log/escape.js';

test('CR, LF, TAB and the backslash become their usual escapes', (t) => {
  t.is(escapeControls('a\r\nb\tc\\n'), 'a\\r\\nb\\tc\\\\n');
});

test('ESC and the other C0 and C1 controls and DEL become \\x escapes', (t) => {
  t.is(escapeControls('\x1b[31mred\x1b[0m'), '\\x1b[31mred\\x1b[0m');
  t.is(escapeControls('\x00\x07\x7f\x85\x9b'), '\\x00\\x07\\x7f\\x85\\x9b');
});

test('bidi controls and the Unicode line separators become \\u escapes', (t) => {
  t.is(escapeControls('admin\u202etxt.exe'), 'admin\\u202etxt.exe');
  t.is(escapeControls('\u2066\u2069\u200e\u061c\u2028\u2029'), '\\u2066\\u2069\\u200e\\u061c\\u2028\\u2029');
});

test('ordinary text, including non-ASCII names, is unchanged', (t) => {
  const text = 'hello.default.svc.cluster.local:80 → bücher.example 日本 [::1]:53 100%';
  t.is(escapeControls(text), text);
});

test('every code point below U+00A0 that is not printable ASCII comes out escaped', (t) => {
  for (let code = 0; code < 0xa0; code++) {
    const printable = code >= 0x20 && code < 0x7f;
    const out = escapeControls(String.fromCharCode(code));
    if (printable && code !== 0x5c) t.is(out, String.fromCharCode(code));
    else t.regex(out, /^\\(x[0-9a-f]{2}|[rnt\\])$/, `U+${code.toString(16)}`);
  }
});
