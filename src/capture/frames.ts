// One relayed connection of `tp run --netns` as a Duplex with TCP semantics, over the Unix socket
// the capture relay (shims/relay) opened to the daemon. A Unix stream has no reset, so both
// directions are framed: kind (1 byte) + length (2 bytes, big endian) + data, where 'D' is data,
// 'E' the sender's FIN and 'X' a reset (shims/relay/relay.h documents the same wire). So the
// stream ends when the relay's client sent its FIN, errors with ECONNRESET when the client reset,
// and what pipeBothWays does to it (end, destroy) reaches the client as a FIN or an RST.
import { Duplex } from 'node:stream';

export const FRAME_HEADER_BYTES = 3;
export const MAX_FRAME_DATA = 0xffff;
const DATA = 0x44; // 'D'
const END = 0x45; // 'E'
const RESET = 0x58; // 'X'

export class ConnectionResetError extends Error {
  readonly code = 'ECONNRESET';
}

export function frame(kind: 'D' | 'E' | 'X', data: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.from([kind.charCodeAt(0), data.length >> 8, data.length & 0xff]);
  return data.length > 0 ? Buffer.concat([header, data]) : header;
}

export class FramedStream extends Duplex {
  private pending: Buffer = Buffer.alloc(0);
  private gotEnd = false;

  /** `socket`: the Unix socket from the relay (any Duplex will do). */
  constructor(private readonly socket: Duplex) {
    super({ allowHalfOpen: true });
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => this.destroy(error));
    socket.on('close', () => {
      if (!this.gotEnd) this.destroy(new ConnectionResetError('the capture relay went away'));
      else if (this.writableFinished || this.destroyed) return;
      else this.destroy();
    });
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    let offset = 0;
    let ok = true;
    while (offset < chunk.length) {
      const piece = chunk.subarray(offset, offset + MAX_FRAME_DATA);
      ok = this.socket.write(frame('D', piece));
      offset += piece.length;
    }
    if (ok) callback();
    else this.socket.once('drain', () => callback());
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.socket.write(frame('E'), () => callback());
    this.closeIfDone();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    // Anything short of both ends finished is a reset for the relay's client.
    if (!this.socket.destroyed) {
      if (!(this.gotEnd && this.writableFinished)) this.socket.end(frame('X'));
      else this.socket.end();
    }
    callback(error);
  }

  private closeIfDone(): void {
    if (this.gotEnd && this.writableEnded) this.socket.end();
  }

  private receive(chunk: Buffer): void {
    this.pending = this.pending.length > 0 ? Buffer.concat([this.pending, chunk]) : chunk;
    while (this.pending.length >= FRAME_HEADER_BYTES) {
      const kind = this.pending[0];
      const length = this.pending.readUInt16BE(1);
      if (this.gotEnd) {
        // Nothing may follow the relay's FIN.
        this.destroy(new ConnectionResetError('a frame after the end from the capture relay'));
        return;
      }
      if (kind === DATA) {
        if (this.pending.length < FRAME_HEADER_BYTES + length) break;
        const data = this.pending.subarray(FRAME_HEADER_BYTES, FRAME_HEADER_BYTES + length);
        this.pending = this.pending.subarray(FRAME_HEADER_BYTES + length);
        if (!this.push(data)) this.socket.pause();
        continue;
      }
      this.pending = this.pending.subarray(FRAME_HEADER_BYTES);
      if (kind === END && length === 0) {
        this.gotEnd = true;
        this.push(null);
        this.closeIfDone();
        continue;
      }
      // A reset, or bytes that are not a frame: the client's connection is not to be trusted further.
      this.destroy(new ConnectionResetError(kind === RESET ? 'the client reset the connection' : 'a malformed frame from the capture relay'));
      return;
    }
  }
}
