// The protocol guard: fails when what the processes say to each other changes without the version
// that guards it being bumped. Two descriptions are fingerprinted (sha256 of canonical JSON):
// - tunnel: the frame layout (header size, frame type and reason numbers, wire limits, the bytes
//   of one sample frame of every type) and the control channel's message shapes; guarded by
//   PROTOCOL_VERSION in src/tunnel/protocol.ts.
// - api: the exported method names, event names, message types, well-known names and ports of the
//   manager API (src/api: control-api, cluster-info, names; printed
//   by the TypeScript compiler without comments, so rewording a comment changes nothing);
//   guarded by API_VERSION in src/api/control-api.ts (its compatibility rules are at its top).
// The recorded fingerprints live in protocol-fingerprints.json next to this file.
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import test from 'ava';
import ts from 'typescript';
import { API_VERSION as CONTROL_API_VERSION } from '../src/api/control-api.js';
import { ControlChannel } from '../src/tunnel/control-channel.js';
import { encodeFrame } from '../src/tunnel/frame-encoder.js';
import type { Frame } from '../src/tunnel/frame.js';
import { ErrorCodeNumber, FRAME_HEADER_BYTES, FrameType, HELLO_PAYLOAD_BYTES, Limits, PING_PAYLOAD_BYTES, PROTOCOL_VERSION, WINDOW_PAYLOAD_BYTES } from '../src/tunnel/protocol.js';

interface Recorded {
  version: number;
  fingerprint: string;
}

const FINGERPRINTS_FILE = new URL('./protocol-fingerprints.json', import.meta.url);
const recorded = JSON.parse(readFileSync(FINGERPRINTS_FILE, 'utf8')) as Record<'tunnel' | 'api', Recorded>;

/** The API's definitions: these files' exported consts, interfaces and types. */
const API_FILES = ['src/api/control-api.ts', 'src/api/cluster-info.ts', 'src/api/names.ts'];
const API_VERSION = { name: 'API_VERSION in src/api/control-api.ts', value: CONTROL_API_VERSION };

const SAMPLE_FRAMES: Frame[] = [
  { kind: 'hello', streamId: 0, version: 1 },
  { kind: 'ping', streamId: 0, payload: Buffer.from('01234567') },
  { kind: 'pong', streamId: 0, payload: Buffer.from('01234567') },
  { kind: 'go-away', streamId: 0, code: 'normal', reason: 'bye' },
  { kind: 'control', streamId: 0, message: { kind: 'event', type: 't', body: 1 } },
  { kind: 'open', streamId: 3, window: 65536, host: 'web.default', port: 80, metadata: { intercept: 'i' } },
  { kind: 'open-ok', streamId: 3, window: 65536 },
  { kind: 'open-error', streamId: 3, code: 'refused', message: 'no' },
  { kind: 'data', streamId: 3, data: Buffer.from('hi') },
  { kind: 'window', streamId: 3, increment: 1024 },
  { kind: 'fin', streamId: 3 },
  { kind: 'reset', streamId: 3, code: 'cancel', message: 'gone' },
];

/** What a control channel puts on the wire for an event, a request, a result and an error. */
async function controlMessages(): Promise<unknown[]> {
  const sent: unknown[] = [];
  const channel = new ControlChannel((message) => sent.push(message), () => {});
  channel.handle('ok', () => 'result');
  channel.handle('fail', () => {
    throw Object.assign(new Error('failed'), { code: 'TP_ERR_INTERCEPT_NO_SERVICE' });
  });
  channel.notify('some.event', { a: 1 });
  const pending = channel.request('some.method', { b: 2 }, 60_000).catch(() => undefined);
  channel.receive({ kind: 'request', id: 7, method: 'ok', params: null });
  channel.receive({ kind: 'request', id: 8, method: 'fail', params: null });
  channel.receive({ kind: 'request', id: 9, method: 'missing', params: null });
  await new Promise((resolve) => setImmediate(resolve));
  channel.receive({ kind: 'response', id: 1, result: null });
  await pending;
  return sent;
}

async function tunnelDescription(): Promise<unknown> {
  return {
    FRAME_HEADER_BYTES,
    FrameType,
    ErrorCodeNumber,
    Limits,
    payloadBytes: { PING_PAYLOAD_BYTES, WINDOW_PAYLOAD_BYTES, HELLO_PAYLOAD_BYTES },
    frames: SAMPLE_FRAMES.map((frame) => encodeFrame(frame).toString('hex')),
    control: await controlMessages(),
  };
}

/** Each file's exported consts, interfaces and type aliases, printed without comments. */
function apiDescription(): string[] {
  const printer = ts.createPrinter({ removeComments: true });
  return API_FILES.flatMap((path) => {
    const source = ts.createSourceFile(path, readFileSync(path, 'utf8'), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
    return source.statements
      .filter((s) => ts.isInterfaceDeclaration(s) || ts.isTypeAliasDeclaration(s) || ts.isVariableStatement(s))
      .filter((s) => ts.getModifiers(s as ts.HasModifiers)?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword))
      .map((s) => printer.printNode(ts.EmitHint.Unspecified, s, source));
  });
}

function fingerprint(description: unknown): string {
  return createHash('sha256').update(JSON.stringify(description)).digest('hex');
}

/** Undefined when `actual` matches the record, else what to do about it. */
function verdict(what: string, version: { name: string; value: number }, record: Recorded, actual: string): string | undefined {
  const entry = `"${what}": { "version": ${version.value}, "fingerprint": "${actual}" }`;
  if (record.version !== version.value) {
    return `${version.name} is ${version.value} but test/protocol-fingerprints.json records version ${record.version}: set ${entry}.`;
  }
  if (record.fingerprint === actual) return undefined;
  return (
    `The ${what} definitions changed, but ${version.name} is still ${version.value}. ` +
    `Bump ${version.name} to ${version.value + 1} and set ${entry.replace(`"version": ${version.value}`, `"version": ${version.value + 1}`)} ` +
    'in test/protocol-fingerprints.json. Only a change the compatibility rules next to the version allow without a bump ' +
    `(e.g. a new error reason) keeps the version: then set ${entry}.`
  );
}

test('the tunnel wire definitions match the fingerprint recorded for PROTOCOL_VERSION', async (t) => {
  const problem = verdict('tunnel', { name: 'PROTOCOL_VERSION in src/tunnel/protocol.ts', value: PROTOCOL_VERSION }, recorded.tunnel, fingerprint(await tunnelDescription()));
  t.is(problem, undefined, problem);
});

test('the manager API definitions match the fingerprint recorded for their version', (t) => {
  const problem = verdict('api', API_VERSION, recorded.api, fingerprint(apiDescription()));
  t.is(problem, undefined, problem);
});

test('the guard tells a changed definition, a forgotten bump and a forgotten record apart', (t) => {
  const version = { name: 'V', value: 2 };
  t.is(verdict('x', version, { version: 2, fingerprint: 'aa' }, 'aa'), undefined);
  t.regex(verdict('x', version, { version: 2, fingerprint: 'aa' }, 'bb') ?? '', /still 2\. Bump V to 3 and set "x": \{ "version": 3, "fingerprint": "bb" \}/);
  t.regex(verdict('x', version, { version: 1, fingerprint: 'aa' }, 'aa') ?? '', /V is 2 but .* records version 1: set "x": \{ "version": 2, "fingerprint": "aa" \}/);
});

test('the API description ignores comments but not a renamed field', (t) => {
  const printer = ts.createPrinter({ removeComments: true });
  const print = (text: string) => {
    const source = ts.createSourceFile('x.ts', text, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
    return source.statements.map((s) => printer.printNode(ts.EmitHint.Unspecified, s, source)).join('\n');
  };
  t.is(print('export interface A {\n  /** the id */\n  id: string;\n}'), print('export interface A { id: string }'));
  t.not(print('export interface A { id: string }'), print('export interface A { name: string }'));
});
