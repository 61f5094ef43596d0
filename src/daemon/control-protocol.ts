// The control channel between the tp CLI and the user's daemon: newline-delimited JSON over a
// Unix socket that only the user can open (0600 in a 0700 directory). One request per line
// `{id, method, params}`, one answer per request `{id, result}` or `{id, error}`. Errors carry a
// TpError's code, message and hints, so the CLI shows the daemon's advice as its own.
// Used by control-server.ts (daemon) and control-caller.ts (CLI).
import { StringDecoder } from 'node:string_decoder';

/** A line longer than this is a protocol error: no legitimate request comes close. */
export const MAX_CONTROL_LINE_BYTES = 1 << 20;

export interface ControlRequest {
  id: number;
  method: string;
  params?: unknown;
}

export interface ControlErrorBody {
  code: string;
  message: string;
  hints?: string[];
}

export type ControlResponse = { id: number; result: unknown } | { id: number; error: ControlErrorBody };

/**
 * Splits a byte stream into lines without holding more than MAX_CONTROL_LINE_BYTES of a partial
 * line; calls `onLine` per complete line and `onOverflow` once if a line is too long.
 */
export function lineSplitter(onLine: (line: string) => void, onOverflow: () => void): (chunk: Buffer) => void {
  // A character may be cut between two reads; the decoder keeps its first bytes until the rest come.
  const decoder = new StringDecoder('utf8');
  let pending = '';
  let overflowed = false;
  return (chunk) => {
    if (overflowed) return;
    pending += decoder.write(chunk);
    let newline = pending.indexOf('\n');
    while (newline !== -1) {
      const line = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      if (line.trim() !== '') onLine(line);
      newline = pending.indexOf('\n');
    }
    if (Buffer.byteLength(pending) > MAX_CONTROL_LINE_BYTES) {
      overflowed = true;
      onOverflow();
    }
  };
}

/** The request on one line, or undefined when the line is not JSON with a numeric id and a string method. */
export function parseControlRequest(line: string): ControlRequest | undefined {
  try {
    const request = JSON.parse(line) as ControlRequest | null;
    if (typeof request?.id === 'number' && typeof request.method === 'string') return request;
  } catch {
    // not JSON: answered as malformed like any other line that is not a request
  }
  return undefined;
}
