// Incremental, strict frame parser: bytes go in as they arrive (split anywhere), whole frames come
// out. A short read means "wait for more"; anything malformed throws a TP_ERR_TUNNEL_PROTOCOL
// TunnelError and poisons the decoder. Every length is checked against a named maximum before a
// byte is buffered for it. It checks the layout of single frames only; stream states (an id
// reused, data after a reset, a window overflow) are the session's to judge.
import { protocolError, type TunnelError } from './errors.js';
import type { Frame, OpenMetadata } from './frame.js';
import {
  FRAME_HEADER_BYTES,
  FrameType,
  HELLO_PAYLOAD_BYTES,
  Limits,
  PING_PAYLOAD_BYTES,
  WINDOW_PAYLOAD_BYTES,
  errorCodeName,
} from './protocol.js';

export interface FrameDecoderOptions {
  /** Largest frame payload accepted. Default Limits.MAX_FRAME_PAYLOAD (1 MiB). */
  maxFramePayload?: number;
}

const OPEN_FIXED_BYTES = 8;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

type State = 'header' | 'payload';

export class FrameDecoder {
  readonly maxFramePayload: number;
  private chunks: Buffer[] = [];
  private buffered = 0;
  private state: State = 'header';
  private type = 0;
  private streamId = 0;
  private length = 0;
  private failure: TunnelError | null = null;

  constructor(options: FrameDecoderOptions = {}) {
    this.maxFramePayload = options.maxFramePayload ?? Limits.MAX_FRAME_PAYLOAD;
  }

  /** Bytes held while waiting for the rest of a frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Feeds bytes; returns the frames they complete (possibly none). Throws on malformed input. */
  push(chunk: Buffer): Frame[] {
    if (this.failure) throw this.failure;
    const frames: Frame[] = [];
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    try {
      for (;;) {
        if (this.state === 'header') {
          if (this.buffered < FRAME_HEADER_BYTES) break;
          this.readHeader(this.take(FRAME_HEADER_BYTES));
          this.state = 'payload';
        }
        if (this.buffered < this.length) break;
        const payload = this.length === 0 ? EMPTY : this.take(this.length);
        this.state = 'header';
        frames.push(this.parsePayload(payload));
      }
    } catch (error) {
      this.failure = error as TunnelError;
      this.chunks = [];
      this.buffered = 0;
      throw error;
    }
    return frames;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    this.buffered -= n;
    if (first.length > n) {
      this.chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    if (first.length === n) {
      this.chunks.shift();
      return first;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const head = this.chunks[0];
      const wanted = n - filled;
      if (head.length <= wanted) {
        head.copy(out, filled);
        filled += head.length;
        this.chunks.shift();
      } else {
        head.copy(out, filled, 0, wanted);
        this.chunks[0] = head.subarray(wanted);
        filled += wanted;
      }
    }
    return out;
  }

  private readHeader(header: Buffer): void {
    this.type = header[0];
    this.streamId = header.readUInt32BE(1);
    this.length = header.readUInt32BE(5);
    const max = this.maxPayloadFor(this.type);
    if (this.length > max) {
      throw protocolError(`frame type 0x${this.type.toString(16)} has a ${this.length}-byte payload, over the maximum of ${max}`);
    }
    const sessionFrame = this.type < FrameType.OPEN;
    if (sessionFrame && this.streamId !== 0) throw protocolError(`session frame 0x${this.type.toString(16)} on stream ${this.streamId}`);
    if (!sessionFrame && this.streamId === 0) throw protocolError(`stream frame 0x${this.type.toString(16)} on stream 0`);
  }

  private maxPayloadFor(type: number): number {
    switch (type) {
      case FrameType.HELLO:
        return HELLO_PAYLOAD_BYTES;
      case FrameType.PING:
      case FrameType.PONG:
        return PING_PAYLOAD_BYTES;
      case FrameType.WINDOW:
      case FrameType.OPEN_OK:
        return WINDOW_PAYLOAD_BYTES;
      case FrameType.FIN:
        return 0;
      case FrameType.GO_AWAY:
      case FrameType.OPEN_ERROR:
      case FrameType.RESET:
        return 1 + Limits.MAX_REASON_BYTES;
      case FrameType.OPEN:
        return OPEN_FIXED_BYTES + Limits.MAX_HOST_BYTES + Limits.MAX_METADATA_BYTES;
      case FrameType.CONTROL:
      case FrameType.DATA:
        return this.maxFramePayload;
      default:
        throw protocolError(`unknown frame type 0x${type.toString(16)}`);
    }
  }

  private parsePayload(payload: Buffer): Frame {
    const streamId = this.streamId;
    switch (this.type) {
      case FrameType.HELLO:
        exact(payload, HELLO_PAYLOAD_BYTES, 'HELLO');
        return { kind: 'hello', streamId: 0, version: payload.readUInt16BE(0) };
      case FrameType.PING:
        exact(payload, PING_PAYLOAD_BYTES, 'PING');
        return { kind: 'ping', streamId: 0, payload };
      case FrameType.PONG:
        exact(payload, PING_PAYLOAD_BYTES, 'PONG');
        return { kind: 'pong', streamId: 0, payload };
      case FrameType.GO_AWAY:
        return { kind: 'go-away', streamId: 0, ...reason(payload, 'GO_AWAY') };
      case FrameType.CONTROL:
        return { kind: 'control', streamId: 0, message: parseJson(payload, 'CONTROL') };
      case FrameType.OPEN:
        return parseOpen(streamId, payload);
      case FrameType.OPEN_OK:
        exact(payload, WINDOW_PAYLOAD_BYTES, 'OPEN_OK');
        return { kind: 'open-ok', streamId, window: windowValue(payload.readUInt32BE(0), 'OPEN_OK') };
      case FrameType.OPEN_ERROR: {
        const { code, reason: message } = reason(payload, 'OPEN_ERROR');
        return { kind: 'open-error', streamId, code, message };
      }
      case FrameType.DATA:
        if (payload.length === 0) throw protocolError('empty DATA frame');
        return { kind: 'data', streamId, data: payload };
      case FrameType.WINDOW: {
        exact(payload, WINDOW_PAYLOAD_BYTES, 'WINDOW');
        const increment = payload.readUInt32BE(0);
        if (increment === 0) throw protocolError('WINDOW frame with a zero increment');
        return { kind: 'window', streamId, increment: windowValue(increment, 'WINDOW') };
      }
      case FrameType.FIN:
        return { kind: 'fin', streamId };
      case FrameType.RESET: {
        const { code, reason: message } = reason(payload, 'RESET');
        return { kind: 'reset', streamId, code, message };
      }
      default:
        throw protocolError(`unknown frame type 0x${this.type.toString(16)}`);
    }
  }
}

const EMPTY = Buffer.alloc(0);

function exact(payload: Buffer, bytes: number, name: string): void {
  if (payload.length !== bytes) throw protocolError(`${name} frame needs a ${bytes}-byte payload, got ${payload.length}`);
}

function windowValue(value: number, name: string): number {
  if (value > Limits.MAX_WINDOW) throw protocolError(`${name} window ${value} is over ${Limits.MAX_WINDOW}`);
  return value;
}

function reason(payload: Buffer, name: string): { code: ReturnType<typeof errorCodeName>; reason: string } {
  if (payload.length < 1) throw protocolError(`${name} frame without a code`);
  return { code: errorCodeName(payload[0]), reason: payload.subarray(1).toString('utf8') };
}

function parseJson(payload: Buffer, name: string): unknown {
  try {
    return JSON.parse(strictUtf8.decode(payload));
  } catch {
    throw protocolError(`${name} payload is not valid UTF-8 JSON`);
  }
}

function parseOpen(streamId: number, payload: Buffer): Frame {
  if (payload.length < OPEN_FIXED_BYTES) throw protocolError(`OPEN frame of ${payload.length} bytes is too short`);
  const window = windowValue(payload.readUInt32BE(0), 'OPEN');
  const port = payload.readUInt16BE(4);
  const hostLength = payload.readUInt16BE(6);
  if (hostLength === 0 || hostLength > Limits.MAX_HOST_BYTES) throw protocolError(`OPEN host length ${hostLength} is out of range`);
  if (OPEN_FIXED_BYTES + hostLength > payload.length) throw protocolError('OPEN host runs past the frame');
  let host: string;
  try {
    host = strictUtf8.decode(payload.subarray(OPEN_FIXED_BYTES, OPEN_FIXED_BYTES + hostLength));
  } catch {
    throw protocolError('OPEN host is not valid UTF-8');
  }
  const metaBytes = payload.subarray(OPEN_FIXED_BYTES + hostLength);
  let metadata: OpenMetadata = {};
  if (metaBytes.length > 0) {
    const parsed = parseJson(metaBytes, 'OPEN metadata');
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw protocolError('OPEN metadata is not a JSON object');
    metadata = parsed as OpenMetadata;
  }
  return { kind: 'open', streamId, window, host, port, metadata };
}
