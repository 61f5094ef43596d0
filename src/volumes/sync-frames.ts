// The volume sync stream between a traffic-agent and a laptop (one tunnel stream, both ways):
// each frame is a 4-byte big-endian header length, a 4-byte body length, the header (a JSON
// object) and the body (a file's bytes, else empty). Every length is checked before anything is
// allocated, and every header is checked field by field, so a hostile peer gets a SyncFormatError
// and nothing else. Paths are relative to the copy's root (`etc/config/app.conf`), never absolute,
// never with `.`, `..` or empty segments. Version 1. Used by source.ts (agent) and copy.ts (laptop).
//
//   laptop → agent  hello {v, maxBytes, exclude[], rw}   first, once
//   agent → laptop  mounts {mounts[{path, rw}]}          the mount roots, once
//   both ways       file {p, mode} + body | dir {p, mode} | link {p, target} | rm {p}
//   agent → laptop  synced                               after the snapshot, and after each batch
//   agent → laptop  error {message, mount?}              the copy cannot go on (e.g. over the cap)

export const SYNC_VERSION = 1;
/** A header is a few paths and numbers: 64 KiB is far above any real one. */
export const MAX_HEADER_BYTES = 64 * 1024;
/** No single file is larger than this (the per-copy cap is checked separately, and is lower by default). */
export const MAX_BODY_BYTES = 256 * 1024 * 1024;
/** Linux PATH_MAX. */
const MAX_PATH_BYTES = 4096;
const MAX_LIST = 1024;
const PREFIX_BYTES = 8;

export type SyncFrame =
  | { t: 'hello'; v: number; maxBytes: number; exclude: string[]; rw: boolean }
  | { t: 'mounts'; mounts: { path: string; rw: boolean }[] }
  | { t: 'file'; p: string; mode: number; body: Buffer }
  | { t: 'dir'; p: string; mode: number }
  | { t: 'link'; p: string; target: string }
  | { t: 'rm'; p: string }
  | { t: 'synced' }
  | { t: 'error'; message: string; mount?: string };

export class SyncFormatError extends Error {
  constructor(message: string) {
    super(`volume sync stream: ${message}`);
    this.name = 'SyncFormatError';
  }
}

export function encodeSyncFrame(frame: SyncFrame): Buffer {
  const { body, ...header } = frame as SyncFrame & { body?: Buffer };
  const headerBytes = Buffer.from(JSON.stringify(header), 'utf8');
  const bodyBytes = body ?? Buffer.alloc(0);
  if (headerBytes.length > MAX_HEADER_BYTES) throw new SyncFormatError(`header of ${headerBytes.length} bytes is over ${MAX_HEADER_BYTES}`);
  if (bodyBytes.length > MAX_BODY_BYTES) throw new SyncFormatError(`body of ${bodyBytes.length} bytes is over ${MAX_BODY_BYTES}`);
  const prefix = Buffer.alloc(PREFIX_BYTES);
  prefix.writeUInt32BE(headerBytes.length, 0);
  prefix.writeUInt32BE(bodyBytes.length, 4);
  return Buffer.concat([prefix, headerBytes, bodyBytes]);
}

/** Cuts a byte stream into checked frames; push() returns the frames completed by a chunk. */
export class SyncDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** `maxBodyBytes`: the largest file this end takes (its copy's cap), at most MAX_BODY_BYTES. */
  constructor(public maxBodyBytes = MAX_BODY_BYTES) {}

  push(chunk: Buffer): SyncFrame[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const frames: SyncFrame[] = [];
    for (;;) {
      if (this.buffered < PREFIX_BYTES) return frames;
      const prefix = this.peek(PREFIX_BYTES);
      const headerLength = prefix.readUInt32BE(0);
      const bodyLength = prefix.readUInt32BE(4);
      if (headerLength === 0 || headerLength > MAX_HEADER_BYTES) throw new SyncFormatError(`header length ${headerLength} is not 1-${MAX_HEADER_BYTES}`);
      const maxBody = Math.min(this.maxBodyBytes, MAX_BODY_BYTES);
      if (bodyLength > maxBody) throw new SyncFormatError(`body length ${bodyLength} is over ${maxBody}`);
      const total = PREFIX_BYTES + headerLength + bodyLength;
      if (this.buffered < total) return frames;
      const whole = this.take(total);
      frames.push(parseFrame(whole.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLength), whole.subarray(PREFIX_BYTES + headerLength)));
    }
  }

  private peek(n: number): Buffer {
    if (this.chunks[0].length < n) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0].subarray(0, n);
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.buffered = rest.length;
    return all.subarray(0, n);
  }
}

function parseFrame(headerBytes: Buffer, body: Buffer): SyncFrame {
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(headerBytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new SyncFormatError('a header is not JSON');
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw new SyncFormatError('a header is not a JSON object');
  const t = header.t;
  if (t !== 'file' && body.length > 0) throw new SyncFormatError(`a ${String(t)} frame carries a body`);
  switch (t) {
    case 'hello':
      return { t, v: integer(header.v, 'v', 1, 1_000), maxBytes: integer(header.maxBytes, 'maxBytes', 0, Number.MAX_SAFE_INTEGER), exclude: list(header.exclude, 'exclude').map((p) => absolutePath(p)), rw: header.rw === true };
    case 'mounts':
      return { t, mounts: list(header.mounts, 'mounts', true).map((m) => ({ path: absolutePath((m as { path?: unknown })?.path), rw: (m as { rw?: unknown })?.rw === true })) };
    case 'file':
      return { t, p: relativePath(header.p), mode: integer(header.mode, 'mode', 0, 0o7777), body: Buffer.from(body) };
    case 'dir':
      return { t, p: relativePath(header.p), mode: integer(header.mode, 'mode', 0, 0o7777) };
    case 'link':
      return { t, p: relativePath(header.p), target: text(header.target, 'target', MAX_PATH_BYTES) };
    case 'rm':
      return { t, p: relativePath(header.p) };
    case 'synced':
      return { t };
    case 'error':
      return { t, message: text(header.message, 'message', 4096), ...(header.mount !== undefined ? { mount: absolutePath(header.mount) } : {}) };
    default:
      throw new SyncFormatError(`unknown frame type ${JSON.stringify(t)?.slice(0, 40)}`);
  }
}

function integer(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw new SyncFormatError(`${name} is not an integer in ${min}-${max}`);
  return value;
}

function text(value: unknown, name: string, maxBytes: number): string {
  if (typeof value !== 'string' || value.length === 0 || Buffer.byteLength(value) > maxBytes || value.includes('\0')) throw new SyncFormatError(`${name} is not a string of 1-${maxBytes} bytes without NUL`);
  return value;
}

function list(value: unknown, name: string, objects = false): unknown[] {
  if (!Array.isArray(value) || value.length > MAX_LIST) throw new SyncFormatError(`${name} is not a list of at most ${MAX_LIST}`);
  if (objects && value.some((v) => v === null || typeof v !== 'object')) throw new SyncFormatError(`${name} holds a non-object`);
  return value;
}

/** A path under the copy's root: segments that are not empty, `.` or `..`. */
export function relativePath(value: unknown): string {
  const path = text(value, 'path', MAX_PATH_BYTES);
  if (path.split('/').some((s) => s === '' || s === '.' || s === '..')) throw new SyncFormatError(`path ${JSON.stringify(path.slice(0, 200))} is not a clean relative path`);
  return path;
}

/** A mount path in the pod: absolute and clean. */
export function absolutePath(value: unknown): string {
  const path = text(value, 'mount path', MAX_PATH_BYTES);
  if (!path.startsWith('/') || path === '/') throw new SyncFormatError(`mount path ${JSON.stringify(path.slice(0, 200))} is not absolute`);
  relativePath(path.slice(1));
  return path;
}
