// Pure functions turning frames into bytes (layouts in protocol.ts). The session uses them to
// send, the tests use them to build both valid and hostile input. Arguments a caller controls
// (host, port, metadata, reasons) are checked here, so a bad one never reaches the wire; reasons
// longer than the limit are cut, not refused.
import { TunnelError } from './errors.js';
import type { Frame } from './frame.js';
import { ErrorCodeNumber, FRAME_HEADER_BYTES, FrameType, Limits, type ErrorCodeName, type FrameTypeNumber } from './protocol.js';

export function encodeHeader(type: FrameTypeNumber, streamId: number, payloadLength: number): Buffer {
  return startFrame(type, streamId, payloadLength, 0);
}

/** A frame's buffer with its header written and room for `room` payload bytes after it (the whole payload unless said). */
function startFrame(type: FrameTypeNumber, streamId: number, payloadLength: number, room = payloadLength): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_BYTES + room);
  frame[0] = type;
  frame.writeUInt32BE(streamId, 1);
  frame.writeUInt32BE(payloadLength, 5);
  return frame;
}

function withPayload(type: FrameTypeNumber, streamId: number, payload: Buffer): Buffer {
  const frame = startFrame(type, streamId, payload.length);
  payload.copy(frame, FRAME_HEADER_BYTES);
  return frame;
}

function u32Frame(type: FrameTypeNumber, streamId: number, value: number): Buffer {
  const frame = startFrame(type, streamId, 4);
  frame.writeUInt32BE(value, FRAME_HEADER_BYTES);
  return frame;
}

function reasonFrame(type: FrameTypeNumber, streamId: number, code: ErrorCodeName, reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8').subarray(0, Limits.MAX_REASON_BYTES);
  const payload = Buffer.allocUnsafe(1 + text.length);
  payload[0] = ErrorCodeNumber[code] ?? ErrorCodeNumber.internal;
  text.copy(payload, 1);
  return withPayload(type, streamId, payload);
}

const NO_BYTES = Buffer.alloc(0);

function isEmpty(object: object): boolean {
  for (const key in object) if (Object.hasOwn(object, key)) return false;
  return true;
}

function encodeOpen(streamId: number, window: number, host: string, port: number, metadata: object): Buffer {
  const hostBytes = Buffer.from(host, 'utf8');
  if (hostBytes.length === 0 || hostBytes.length > Limits.MAX_HOST_BYTES) {
    throw new TunnelError('TP_ERR_TUNNEL_INVALID_ARGUMENT', `host must be 1 to ${Limits.MAX_HOST_BYTES} bytes`);
  }
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new TunnelError('TP_ERR_TUNNEL_INVALID_ARGUMENT', `port must be an integer from 0 to 65535, got ${port}`);
  }
  const metaBytes = isEmpty(metadata) ? NO_BYTES : Buffer.from(JSON.stringify(metadata), 'utf8');
  if (metaBytes.length > Limits.MAX_METADATA_BYTES) {
    throw new TunnelError('TP_ERR_TUNNEL_INVALID_ARGUMENT', `open metadata is over ${Limits.MAX_METADATA_BYTES} bytes`);
  }
  const payloadLength = 8 + hostBytes.length + metaBytes.length;
  const frame = startFrame(FrameType.OPEN, streamId, payloadLength);
  frame.writeUInt32BE(window, FRAME_HEADER_BYTES);
  frame.writeUInt16BE(port, FRAME_HEADER_BYTES + 4);
  frame.writeUInt16BE(hostBytes.length, FRAME_HEADER_BYTES + 6);
  hostBytes.copy(frame, FRAME_HEADER_BYTES + 8);
  metaBytes.copy(frame, FRAME_HEADER_BYTES + 8 + hostBytes.length);
  return frame;
}

/** The bytes of one frame. DATA frames are better sent as encodeHeader + payload (no copy). */
export function encodeFrame(frame: Frame): Buffer {
  switch (frame.kind) {
    case 'hello': {
      const payload = Buffer.allocUnsafe(2);
      payload.writeUInt16BE(frame.version, 0);
      return withPayload(FrameType.HELLO, 0, payload);
    }
    case 'ping':
      return withPayload(FrameType.PING, 0, frame.payload);
    case 'pong':
      return withPayload(FrameType.PONG, 0, frame.payload);
    case 'go-away':
      return reasonFrame(FrameType.GO_AWAY, 0, frame.code, frame.reason);
    case 'control':
      return withPayload(FrameType.CONTROL, 0, Buffer.from(JSON.stringify(frame.message), 'utf8'));
    case 'open':
      return encodeOpen(frame.streamId, frame.window, frame.host, frame.port, frame.metadata);
    case 'open-ok':
      return u32Frame(FrameType.OPEN_OK, frame.streamId, frame.window);
    case 'open-error':
      return reasonFrame(FrameType.OPEN_ERROR, frame.streamId, frame.code, frame.message);
    case 'data':
      return withPayload(FrameType.DATA, frame.streamId, frame.data);
    case 'window':
      return u32Frame(FrameType.WINDOW, frame.streamId, frame.increment);
    case 'fin':
      return encodeHeader(FrameType.FIN, frame.streamId, 0);
    case 'reset':
      return reasonFrame(FrameType.RESET, frame.streamId, frame.code, frame.message);
  }
}
