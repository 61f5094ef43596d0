// The parts of `pods/<name>/exec` that read outside bytes or build the status reply, apart from
// the sockets (exec.ts): the query (`command=` repeated, `stdin`/`stdout`/`stderr`/`tty` flags,
// `container`), the client's WebSocket messages in the channel protocol (one channel byte, then
// payload; v5.channel.k8s.io's `[255, channel]` closes a channel) and the Status JSON that
// upstream's API server sends on channel 3 when the command ends (Success, or NonZeroExitCode
// with the exit code as cause `ExitCode`). Leaves out TTYs (resize, channel 4, is accepted and
// ignored). Used by exec.ts.
import { constants } from 'node:os';
import { badRequest } from './status-errors.js';

export const EXEC_PROTOCOLS = ['v5.channel.k8s.io', 'v4.channel.k8s.io'];
export const STDIN = 0;
export const STDOUT = 1;
export const STDERR = 2;
export const ERROR = 3;
export const RESIZE = 4;
export const CLOSE = 255;
/** Caps on what a request may ask for (Node already caps the URL with its header limit). */
const MAX_ARGS = 1024;

export interface ExecOptions {
  command: string[];
  container?: string;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

function flag(url: URL, name: string): boolean {
  const value = url.searchParams.get(name);
  if (value === null || value === '' || value === 'false' || value === '0') return false;
  if (value === 'true' || value === '1') return true;
  throw badRequest(`invalid value for ${name}: ${JSON.stringify(value)} (true or false)`);
}

/** The exec request of `url`, with upstream's checks: a command, and at least one stream. */
export function parseExecOptions(url: URL): ExecOptions {
  const command = url.searchParams.getAll('command');
  if (command.length === 0) throw badRequest('you must specify at least one command for the container');
  if (command.length > MAX_ARGS) throw badRequest(`a command of at most ${MAX_ARGS} arguments is supported, this one has ${command.length}`);
  const options: ExecOptions = {
    command,
    container: url.searchParams.get('container') || undefined,
    stdin: flag(url, 'stdin'),
    stdout: flag(url, 'stdout'),
    stderr: flag(url, 'stderr'),
    tty: flag(url, 'tty'),
  };
  if (!options.stdin && !options.stdout && !options.stderr) throw badRequest('you must specify at least 1 of stdin, stdout, stderr');
  if (options.tty) throw badRequest('the sandbox does not allocate TTYs: run kubectl exec without -t (stdin with -i works)');
  return options;
}

export type ClientFrame =
  | { kind: 'data'; channel: number; payload: Buffer }
  | { kind: 'close'; channel: number };

/** One message from the client; undefined for an empty message (nothing to do). */
export function parseClientFrame(message: Buffer): ClientFrame | undefined {
  if (message.length === 0) return undefined;
  const channel = message[0]!;
  if (channel === CLOSE) {
    if (message.length !== 2) throw new Error(`a close message is 2 bytes ([255, channel]), this one has ${message.length}`);
    return { kind: 'close', channel: message[1]! };
  }
  return { kind: 'data', channel, payload: message.subarray(1) };
}

/** A message for the client on `channel`. */
function frame(channel: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([channel]), payload]);
}

/** The exit code a shell would report: the code, or 128 + the signal's number. */
export function exitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? (constants.signals[signal] ?? 0) : 0);
}

/** The Status message on channel 3 once the command ended with `code`. */
export function statusFrame(code: number, command: string[]): Buffer {
  const status = code === 0
    ? { metadata: {}, status: 'Success' }
    : {
        metadata: {},
        status: 'Failure',
        message: `command terminated with non-zero exit code: command ${JSON.stringify(command.join(' '))} exited with ${code}`,
        reason: 'NonZeroExitCode',
        details: { causes: [{ reason: 'ExitCode', message: String(code) }] },
      };
  return frame(ERROR, Buffer.from(JSON.stringify(status)));
}

/** The Status message on channel 3 when the command could not be run. */
export function failureFrame(message: string): Buffer {
  return frame(ERROR, Buffer.from(JSON.stringify({ metadata: {}, status: 'Failure', message, reason: 'InternalError', code: 500 })));
}
