// Makes text safe to write as one log line: every character that could end the line, rewrite
// what a terminal shows (ESC sequences), or reorder what a reader sees (Unicode bidi controls)
// becomes a visible escape. Host names, URLs and error messages that came from the network pass
// through here, so a client cannot forge log lines or hide text in them. The backslash is escaped
// too, so a literal "\n" sent by a client stays distinguishable from an escaped line feed.
// Used by the logger on every message it formats; callers never need it themselves.

/**
 * What is escaped: C0 controls (U+0000-U+001F, which include CR, LF, TAB and ESC), DEL and the C1
 * controls (U+007F-U+009F; U+009B is a one-byte CSI for some terminals), the line and paragraph
 * separators (U+2028, U+2029; some viewers break lines there), and the bidi controls (U+061C,
 * U+200E, U+200F, U+202A-U+202E, U+2066-U+2069; "Trojan Source", CVE-2021-42574).
 */
// eslint-disable-next-line no-control-regex -- matching control characters is this module's purpose
const UNSAFE = /[\\\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const NAMED: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

export function escapeControls(text: string): string {
  return text.replace(UNSAFE, (char) => NAMED[char] ?? visibleCode(char.charCodeAt(0)));
}

function visibleCode(code: number): string {
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}
