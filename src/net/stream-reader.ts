// Reads one framed message from a stream with a pure parser (socks5-protocol.ts, an HTTP response
// head): collects bytes until the parser returns a result, never past a byte limit, and hands back
// whatever arrived after the message. Used by the SOCKS5 server and the upstream-proxy dialer.
// Leaves out timeouts (the caller destroys the stream, which rejects the read).
import type { Duplex } from 'node:stream';
import { TpError } from '../errors.js';

export class StreamReadError extends TpError {
  declare readonly code: 'TP_ERR_STREAM_TOO_LONG' | 'TP_ERR_STREAM_ENDED';

  constructor(code: 'TP_ERR_STREAM_TOO_LONG' | 'TP_ERR_STREAM_ENDED', message: string) {
    super(code, message);
    this.name = 'StreamReadError';
  }
}

export interface ReadResult<T> {
  message: T;
  /** Bytes that arrived after the message. */
  rest: Buffer;
}

/**
 * Resolves with the first message `parse` finds in `initial` plus what the stream sends next.
 * Rejects with StreamReadError past `maxBytes` or when the stream ends first, or with whatever
 * `parse` throws. Reads with 'readable' and never pauses the stream, so it is left exactly as a
 * fresh stream: whoever attaches a 'data' listener or pipes it next gets the following bytes.
 */
export function readMessage<T extends { consumed: number }>(
  stream: Duplex,
  parse: (bytes: Buffer) => T | undefined,
  options: { maxBytes: number; what: string; initial?: Buffer },
): Promise<ReadResult<T>> {
  return new Promise((resolve, reject) => {
    let buffered = options.initial ?? Buffer.alloc(0);
    let settled = false;
    const finish = (error: Error | undefined, result?: ReadResult<T>): void => {
      settled = true;
      stream.removeListener('readable', onReadable);
      stream.removeListener('end', onEnd);
      stream.removeListener('close', onEnd);
      stream.removeListener('error', onError);
      if (error) reject(error);
      else resolve(result!);
    };
    const attempt = (): boolean => {
      let message: T | undefined;
      try {
        message = parse(buffered);
      } catch (error) {
        finish(error as Error);
        return true;
      }
      if (message) {
        finish(undefined, { message, rest: buffered.subarray(message.consumed) });
        return true;
      }
      if (buffered.length >= options.maxBytes) {
        finish(new StreamReadError('TP_ERR_STREAM_TOO_LONG', `${options.what} is longer than ${options.maxBytes} bytes`));
        return true;
      }
      return false;
    };
    const onReadable = (): void => {
      let chunk: Buffer | null;
      while (!settled && (chunk = stream.read() as Buffer | null) !== null) {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
        attempt();
      }
    };
    const onEnd = (): void => {
      if (!settled) finish(new StreamReadError('TP_ERR_STREAM_ENDED', `the stream ended before the ${options.what} was complete`));
    };
    const onError = (error: Error): void => finish(error);
    if (buffered.length > 0 && attempt()) return;
    stream.on('readable', onReadable);
    stream.once('end', onEnd);
    stream.once('close', onEnd);
    stream.once('error', onError);
  });
}
