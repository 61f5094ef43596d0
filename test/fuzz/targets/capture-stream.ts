// Fuzz target: what the daemon reads from `tp run --netns`'s relay on its capture socket
// (src/run/daemon/capture-listener.ts parseCaptureHeader, src/capture/frames.ts FramedStream): a
// header line, then frames split at any point. Contract: the header parses to a DNS or an IPv4
// target with a port 1-65535, or to nothing; the frame reader never throws, passes on exactly the
// data of the 'D' frames before the first other frame, ends only on an 'E' frame that nothing
// follows, and anything else ('X', a bad kind, a frame after 'E') is an ECONNRESET error.
import { Duplex } from 'node:stream';
import { isIPv4 } from 'node:net';
import { parseCaptureHeader } from '../../../src/run/daemon/capture-listener.js';
import { FramedStream } from '../../../src/capture/frames.js';
import { check, chunks } from '../contract.js';

/** The files this target is about (run.ts reports their coverage). */
export const covers = ['src/run/daemon/capture-listener.ts', 'src/capture/frames.ts'];

/** What a correct reader makes of the frames: the data before the first non-data frame, and how it stops. */
function expected(bytes: Buffer): { data: Buffer; end: 'end' | 'reset' | 'open' } {
  const parts: Buffer[] = [];
  let at = 0;
  while (bytes.length - at >= 3) {
    const kind = bytes[at];
    const length = bytes.readUInt16BE(at + 1);
    if (kind === 0x44) {
      if (bytes.length - at - 3 < length) break;
      parts.push(bytes.subarray(at + 3, at + 3 + length));
      at += 3 + length;
      continue;
    }
    // After an 'E' nothing may come: a further frame header is a reset.
    const ended = kind === 0x45 && length === 0 && bytes.length - at - 3 < 3;
    return { data: Buffer.concat(parts), end: ended ? 'end' : 'reset' };
  }
  return { data: Buffer.concat(parts), end: 'open' };
}

export async function fuzz(data: Buffer): Promise<void> {
  const newline = data.indexOf(0x0a);
  const header = parseCaptureHeader(data.subarray(0, newline < 0 ? data.length : newline).toString('latin1'));
  if (header?.kind === 'tcp') {
    check(isIPv4(header.target.host), `host ${header.target.host}`);
    check(header.target.port >= 1 && header.target.port <= 65_535, `port ${header.target.port}`);
  }
  const frames = newline < 0 ? Buffer.alloc(0) : data.subarray(newline + 1);
  const socket = new Duplex({ read() {}, write: (_chunk, _encoding, done) => done() });
  const stream = new FramedStream(socket);
  const received: Buffer[] = [];
  const outcome = new Promise<'end' | 'reset' | 'open'>((resolve) => {
    stream.on('data', (chunk: Buffer) => received.push(chunk));
    stream.on('end', () => resolve('end'));
    stream.on('error', (error: NodeJS.ErrnoException) => {
      check(error.code === 'ECONNRESET', `error ${error.code ?? error.message}`);
      resolve('reset');
    });
    // Every byte is handed over synchronously below; a few turns of the loop let the streams flow.
    let turns = 0;
    const wait = (): void => void (++turns < 20 ? setImmediate(wait) : resolve('open'));
    setImmediate(wait);
  });
  for (const chunk of chunks(frames, data.length % 7)) socket.push(chunk);
  const stopped = await outcome;
  const want = expected(frames);
  check(stopped === want.end, `stopped with ${stopped}, expected ${want.end}`);
  check(Buffer.concat(received).equals(want.data), 'the data passed on differs from the data frames');
  socket.destroy();
  stream.destroy();
}
