// Container logs: a writer that stamps each stdout/stderr line with an RFC 3339 time as it goes to
// the container's log file (one file per container run, so `previous` is the file before), and a
// reader implementing the API's log options (follow, tailLines, sinceSeconds, timestamps,
// limitBytes). Partial lines wait for their newline (or the end of the run). Leaves out log
// rotation and the stream (stdout/stderr) split. Used by the kubelet (container-runner.ts, kubelet.ts).
import { createWriteStream, openSync, readSync, closeSync, fstatSync, type WriteStream } from 'node:fs';
import { Readable } from 'node:stream';

export interface PodLogOptions { follow: boolean; tailLines?: number; sinceSeconds?: number; previous?: boolean; timestamps?: boolean; limitBytes?: number }

const FOLLOW_POLL_MS = 100;
const READ_CHUNK = 64 * 1024;

export class LogWriter {
  private readonly file: WriteStream;
  private readonly partial = new Map<NodeJS.ReadableStream, string>();

  constructor(path: string) {
    this.file = createWriteStream(path, { flags: 'a' });
  }

  attach(stream: NodeJS.ReadableStream): void {
    this.partial.set(stream, '');
    stream.on('data', (chunk: Buffer) => {
      const text = this.partial.get(stream)! + chunk.toString('utf8');
      const lines = text.split('\n');
      this.partial.set(stream, lines.pop()!);
      for (const line of lines) this.line(line);
    });
    stream.on('end', () => this.flush(stream));
  }

  /** A line from the kubelet itself (e.g. why a container could not start). */
  line(text: string): void {
    this.file.write(`${new Date().toISOString()} ${text}\n`);
  }

  close(): Promise<void> {
    for (const stream of this.partial.keys()) this.flush(stream);
    return new Promise((resolve) => this.file.end(resolve));
  }

  private flush(stream: NodeJS.ReadableStream): void {
    const rest = this.partial.get(stream);
    if (rest) this.line(rest);
    this.partial.set(stream, '');
  }
}

/**
 * A stream of a log file under `options`. With follow, it keeps reading new lines until
 * `isDone()` says the run ended and everything written was read, or the reader goes away.
 */
export function readLog(path: string, options: PodLogOptions, isDone: () => boolean): Readable {
  async function* lines(): AsyncGenerator<string> {
    const fd = openSync(path, 'r');
    let offset = 0;
    let carry = '';
    let budget = options.limitBytes ?? Infinity;
    const since = options.sinceSeconds !== undefined ? Date.now() - options.sinceSeconds * 1000 : undefined;
    const format = (line: string): string | undefined => {
      const space = line.indexOf(' ');
      if (since !== undefined && Date.parse(line.slice(0, space)) < since) return undefined;
      return (options.timestamps ? line : line.slice(space + 1)) + '\n';
    };
    const readNew = (): string[] => {
      const buffer = Buffer.alloc(READ_CHUNK);
      let text = carry;
      for (;;) {
        const n = readSync(fd, buffer, 0, READ_CHUNK, offset);
        if (n === 0) break;
        offset += n;
        text += buffer.subarray(0, n).toString('utf8');
      }
      const all = text.split('\n');
      carry = all.pop()!;
      return all;
    };
    const limited = function* (out: string[]): Generator<string> {
      for (const line of out) {
        if (budget <= 0) return;
        const bytes = Buffer.byteLength(line);
        yield bytes <= budget ? line : Buffer.from(line).subarray(0, budget).toString('utf8');
        budget -= bytes;
      }
    };
    try {
      let first = readNew().map(format).filter((l): l is string => l !== undefined);
      if (options.tailLines !== undefined) first = options.tailLines > 0 ? first.slice(-options.tailLines) : [];
      yield* limited(first);
      while (options.follow && budget > 0) {
        const done = isDone();
        const more = readNew().map(format).filter((l): l is string => l !== undefined);
        yield* limited(more);
        if (done && fstatSync(fd).size <= offset) break;
        await new Promise((resolve) => setTimeout(resolve, FOLLOW_POLL_MS));
      }
    } finally {
      closeSync(fd);
    }
  }
  return Readable.from(lines(), { objectMode: false });
}
