import test from 'ava';
import fc from 'fast-check';
import { encodeFrame, encodeHeader } from '../../src/tunnel/frame-encoder.js';
import { FrameDecoder } from '../../src/tunnel/frame-decoder.js';
import type { Frame } from '../../src/tunnel/frame.js';
import { ErrorCodeNumber, FrameType, Limits, type ErrorCodeName } from '../../src/tunnel/protocol.js';

const codes = Object.keys(ErrorCodeNumber) as ErrorCodeName[];
const streamId = fc.integer({ min: 1, max: Limits.MAX_STREAM_ID });
const bytes = (min: number, max: number) => fc.uint8Array({ minLength: min, maxLength: max }).map((a) => Buffer.from(a));
const jsonValue = fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);

const frameArb: fc.Arbitrary<Frame> = fc.oneof(
  fc.record({ kind: fc.constant('hello' as const), streamId: fc.constant(0 as const), version: fc.integer({ min: 0, max: 0xffff }) }),
  fc.record({ kind: fc.constant('ping' as const), streamId: fc.constant(0 as const), payload: bytes(8, 8) }),
  fc.record({ kind: fc.constant('pong' as const), streamId: fc.constant(0 as const), payload: bytes(8, 8) }),
  fc.record({ kind: fc.constant('go-away' as const), streamId: fc.constant(0 as const), code: fc.constantFrom(...codes), reason: fc.string({ maxLength: 50 }) }),
  fc.record({ kind: fc.constant('control' as const), streamId: fc.constant(0 as const), message: jsonValue }),
  fc.record({
    kind: fc.constant('open' as const),
    streamId,
    window: fc.integer({ min: 0, max: Limits.MAX_WINDOW }),
    host: fc.string({ minLength: 1, maxLength: 60 }).filter((s) => !s.includes('\ud800')),
    port: fc.integer({ min: 0, max: 65535 }),
    metadata: fc.dictionary(fc.string({ maxLength: 8 }), jsonValue, { maxKeys: 3 }).map((m) => JSON.parse(JSON.stringify(m)) as Record<string, unknown>),
  }),
  fc.record({ kind: fc.constant('open-ok' as const), streamId, window: fc.integer({ min: 0, max: Limits.MAX_WINDOW }) }),
  fc.record({ kind: fc.constant('open-error' as const), streamId, code: fc.constantFrom(...codes), message: fc.string({ maxLength: 50 }) }),
  fc.record({ kind: fc.constant('data' as const), streamId, data: bytes(1, 3000) }),
  fc.record({ kind: fc.constant('window' as const), streamId, increment: fc.integer({ min: 1, max: Limits.MAX_WINDOW }) }),
  fc.record({ kind: fc.constant('fin' as const), streamId }),
  fc.record({ kind: fc.constant('reset' as const), streamId, code: fc.constantFrom(...codes), message: fc.string({ maxLength: 50 }) }),
);

/** Valid strings survive an encode/decode round trip; lone surrogates are not valid UTF-8. */
function normalise(frame: Frame): Frame {
  return JSON.parse(JSON.stringify(frame, (_k, v: unknown) => (Buffer.isBuffer(v) ? v.toString('hex') : v))) as Frame;
}
function decodedForm(frame: Frame): Frame {
  const text = (s: string) => Buffer.from(s, 'utf8').toString('utf8');
  switch (frame.kind) {
    case 'go-away':
      return { ...frame, reason: text(frame.reason) };
    case 'open-error':
    case 'reset':
      return { ...frame, message: text(frame.message) };
    case 'open':
      return { ...frame, host: text(frame.host) };
    default:
      return frame;
  }
}

test('every frame survives an encode/decode round trip', (t) => {
  fc.assert(
    fc.property(frameArb, (frame) => {
      const decoded = new FrameDecoder().push(encodeFrame(frame));
      t.deepEqual(decoded.map(normalise), [normalise(decodedForm(frame))]);
    }),
    { numRuns: 500 },
  );
});

test('a byte stream cut at random points decodes to the same frames', (t) => {
  fc.assert(
    fc.property(fc.array(frameArb, { minLength: 1, maxLength: 20 }), fc.array(fc.integer({ min: 0, max: 100_000 }), { maxLength: 30 }), (frames, cuts) => {
      const wire = Buffer.concat(frames.map(encodeFrame));
      const points = [...new Set(cuts.map((c) => c % (wire.length + 1)))].sort((a, b) => a - b);
      const decoder = new FrameDecoder();
      const out: Frame[] = [];
      let last = 0;
      for (const point of [...points, wire.length]) {
        out.push(...decoder.push(wire.subarray(last, point)));
        last = point;
      }
      t.deepEqual(out.map(normalise), frames.map(decodedForm).map(normalise));
      t.is(decoder.bufferedBytes, 0);
    }),
    { numRuns: 300 },
  );
});

test('a frame fed one byte at a time waits for its last byte', (t) => {
  const wire = encodeFrame({ kind: 'open', streamId: 3, window: 1024, host: 'svc.ns', port: 80, metadata: { a: 1 } });
  const decoder = new FrameDecoder();
  for (let i = 0; i < wire.length - 1; i++) t.deepEqual(decoder.push(wire.subarray(i, i + 1)), []);
  t.is(decoder.push(wire.subarray(wire.length - 1)).length, 1);
});

function header(type: number, id: number, length: number): Buffer {
  const buf = Buffer.alloc(9);
  buf[0] = type;
  buf.writeUInt32BE(id, 1);
  buf.writeUInt32BE(length, 5);
  return buf;
}

const malformed: Array<[string, Buffer, RegExp]> = [
  ['an unknown frame type', header(0x7f, 1, 0), /unknown frame type/],
  ['a DATA frame over the maximum payload', header(FrameType.DATA, 1, Limits.MAX_FRAME_PAYLOAD + 1), /over the maximum/],
  ['a 4 GiB length', header(FrameType.DATA, 1, 0xffffffff), /over the maximum/],
  ['a PING with a short payload', Buffer.concat([header(FrameType.PING, 0, 4), Buffer.alloc(4)]), /8-byte payload/],
  ['a session frame on a stream', Buffer.concat([header(FrameType.PING, 5, 8), Buffer.alloc(8)]), /session frame/],
  ['a stream frame on stream 0', header(FrameType.FIN, 0, 0), /on stream 0/],
  ['a zero WINDOW increment', Buffer.concat([header(FrameType.WINDOW, 1, 4), Buffer.alloc(4)]), /zero increment/],
  ['a WINDOW over 2^31-1', Buffer.concat([header(FrameType.WINDOW, 1, 4), Buffer.from([0xff, 0xff, 0xff, 0xff])]), /window/],
  ['an empty DATA frame', header(FrameType.DATA, 1, 0), /empty DATA/],
  ['a FIN with a payload', Buffer.concat([header(FrameType.FIN, 1, 1), Buffer.alloc(1)]), /over the maximum/],
  ['control that is not JSON', Buffer.concat([header(FrameType.CONTROL, 0, 3), Buffer.from('{x]')]), /not valid UTF-8 JSON/],
  ['an OPEN whose host runs past the frame', Buffer.concat([header(FrameType.OPEN, 1, 9), Buffer.from([0, 0, 1, 0, 0, 80, 0, 200, 0x61])]), /runs past/],
  ['an OPEN with an empty host', Buffer.concat([header(FrameType.OPEN, 1, 8), Buffer.from([0, 0, 1, 0, 0, 80, 0, 0])]), /host length 0/],
  ['OPEN metadata that is an array', Buffer.concat([header(FrameType.OPEN, 1, 11), Buffer.from([0, 0, 1, 0, 0, 80, 0, 1, 0x61, 0x5b, 0x5d])]), /not a JSON object/],
  ['a RESET without a code', header(FrameType.RESET, 1, 0), /without a code/],
];

for (const [name, wire, message] of malformed) {
  test(`rejects ${name} with a protocol error`, (t) => {
    const decoder = new FrameDecoder();
    const error = t.throws(() => decoder.push(wire));
    t.is((error as { code?: string }).code, 'TP_ERR_TUNNEL_PROTOCOL');
    t.regex(error!.message, message);
    // The decoder stays failed: later input gets the same error, never frames.
    t.throws(() => decoder.push(encodeFrame({ kind: 'fin', streamId: 1 })), { message: error!.message });
  });
}

test('a truncated frame is a wait, not an error', (t) => {
  const wire = encodeFrame({ kind: 'data', streamId: 1, data: Buffer.alloc(100, 1) });
  const decoder = new FrameDecoder();
  t.deepEqual(decoder.push(wire.subarray(0, 50)), []);
  const [frame] = decoder.push(wire.subarray(50));
  t.is(frame.kind, 'data');
});

test('an oversized length is refused before any payload is buffered', (t) => {
  const decoder = new FrameDecoder({ maxFramePayload: 1024 });
  t.throws(() => decoder.push(encodeHeader(FrameType.DATA, 1, 1025)), { message: /over the maximum of 1024/ });
});

test('random garbage never crashes the decoder: frames or a protocol error', (t) => {
  fc.assert(
    fc.property(bytes(0, 200), (garbage) => {
      try {
        new FrameDecoder().push(garbage);
      } catch (error) {
        t.is((error as { code?: string }).code, 'TP_ERR_TUNNEL_PROTOCOL');
      }
    }),
    { numRuns: 1000 },
  );
});
