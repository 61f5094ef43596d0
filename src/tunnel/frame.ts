// The decoded form of every tunnel frame: what frame-decoder.ts produces and frame-encoder.ts
// consumes. Layouts and numbers are in protocol.ts.
import type { ErrorCodeName } from './protocol.js';

export type OpenMetadata = Record<string, unknown>;

export type Frame =
  | { kind: 'hello'; streamId: 0; version: number }
  | { kind: 'ping'; streamId: 0; payload: Buffer }
  | { kind: 'pong'; streamId: 0; payload: Buffer }
  | { kind: 'go-away'; streamId: 0; code: ErrorCodeName; reason: string }
  | { kind: 'control'; streamId: 0; message: unknown }
  | { kind: 'open'; streamId: number; window: number; host: string; port: number; metadata: OpenMetadata }
  | { kind: 'open-ok'; streamId: number; window: number }
  | { kind: 'open-error'; streamId: number; code: ErrorCodeName; message: string }
  | { kind: 'data'; streamId: number; data: Buffer }
  | { kind: 'window'; streamId: number; increment: number }
  | { kind: 'fin'; streamId: number }
  | { kind: 'reset'; streamId: number; code: ErrorCodeName; message: string };

export type FrameKind = Frame['kind'];
