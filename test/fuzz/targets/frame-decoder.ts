// Fuzz target: the tunnel frame decoder (src/tunnel/frame-decoder.ts), which reads what the peer
// of a WebSocket tunnel sends. Input: one seed byte choosing how the rest is split into reads,
// then the bytes. Contract: every push returns frames or throws a TP_ERR_TUNNEL_PROTOCOL
// TunnelError (and keeps throwing it); frames and error are the same however the bytes were split;
// every frame is well formed and encodes back to itself; no more than one frame is held.
import { deepStrictEqual } from 'node:assert';
import { TunnelError } from '../../../src/tunnel/errors.js';
import { FrameDecoder } from '../../../src/tunnel/frame-decoder.js';
import { encodeFrame } from '../../../src/tunnel/frame-encoder.js';
import type { Frame } from '../../../src/tunnel/frame.js';
import { FRAME_HEADER_BYTES, Limits } from '../../../src/tunnel/protocol.js';
import { check, chunks, expectTyped } from '../contract.js';

/** The files this target is about (run.ts reports their coverage). */
export const covers = ['src/tunnel/frame-decoder.ts'];

/** Small, so the fuzzer reaches the over-the-limit paths with short inputs. */
const MAX_FRAME_PAYLOAD = 64;
/** The largest payload any frame type may declare with the limit above (OPEN's). */
const LARGEST_PAYLOAD = 8 + Limits.MAX_HOST_BYTES + Limits.MAX_METADATA_BYTES;

interface Outcome {
  frames: Frame[];
  error?: string;
}

function decode(parts: Buffer[]): Outcome {
  const decoder = new FrameDecoder({ maxFramePayload: MAX_FRAME_PAYLOAD });
  const frames: Frame[] = [];
  for (const part of parts) {
    try {
      frames.push(...decoder.push(part));
    } catch (error) {
      expectTyped(error, (e) => e instanceof TunnelError && e.code === 'TP_ERR_TUNNEL_PROTOCOL', 'FrameDecoder.push');
      let again: unknown;
      try {
        decoder.push(Buffer.from([1]));
      } catch (later) {
        again = later;
      }
      check(again === error, 'a failed decoder must keep failing with the same error');
      return { frames, error: (error as Error).message };
    }
    check(decoder.bufferedBytes < FRAME_HEADER_BYTES + LARGEST_PAYLOAD, `decoder holds ${decoder.bufferedBytes} bytes`);
  }
  return { frames };
}

function checkFrame(frame: Frame): void {
  const session = ['hello', 'ping', 'pong', 'go-away', 'control'].includes(frame.kind);
  check(session ? frame.streamId === 0 : frame.streamId > 0, `${frame.kind} on stream ${frame.streamId}`);
  switch (frame.kind) {
    case 'data':
      check(frame.data.length > 0 && frame.data.length <= MAX_FRAME_PAYLOAD, `DATA of ${frame.data.length} bytes`);
      break;
    case 'open':
      check(frame.host.length > 0 && Buffer.byteLength(frame.host) <= Limits.MAX_HOST_BYTES, 'OPEN host length');
      check(frame.window <= Limits.MAX_WINDOW && frame.port <= 0xffff, 'OPEN window or port');
      check(typeof frame.metadata === 'object' && frame.metadata !== null && !Array.isArray(frame.metadata), 'OPEN metadata');
      break;
    case 'window':
      check(frame.increment > 0 && frame.increment <= Limits.MAX_WINDOW, 'WINDOW increment');
      break;
    case 'open-ok':
      check(frame.window <= Limits.MAX_WINDOW, 'OPEN_OK window');
      break;
    default:
      break;
  }
  // Reasons are decoded leniently (a bad byte becomes U+FFFD, which may not fit back in the limit).
  const reason = frame.kind === 'go-away' ? frame.reason : frame.kind === 'open-error' || frame.kind === 'reset' ? frame.message : '';
  if (Buffer.byteLength(reason) > Limits.MAX_REASON_BYTES) return;
  const again = decode([encodeFrame(frame)]);
  check(again.error === undefined, `a decoded ${frame.kind} frame does not decode after encoding: ${again.error}`);
  deepStrictEqual(again.frames, [frame]);
}

export function fuzz(data: Buffer): void {
  if (data.length === 0) return;
  const bytes = data.subarray(1);
  const whole = decode([bytes]);
  const split = decode(chunks(bytes, data[0]));
  // A push that ends in an error returns nothing, so smaller reads may have delivered more frames
  // before it; the error and the frames up to it are the same.
  check(split.error === whole.error, `split reads: ${split.error}; one read: ${whole.error}`);
  deepStrictEqual(whole.error === undefined ? split.frames : split.frames.slice(0, whole.frames.length), whole.frames);
  for (const frame of split.frames) checkFrame(frame);
}
