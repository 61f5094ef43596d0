// Shared by the close-semantics matrix: its namespace and traffic-manager, the clients it drives
// (client.py, client.mjs, curl) on the laptop or in the `client` pod, and what each ending must
// look like: every byte with the right SHA-256 and an end for an orderly close, a reset for a reset.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { execInPod } from '../helpers/cluster.js';
import { patternBytes, sha256 } from '../../sandbox/node/images/close-server.js';
import { CHECKOUT } from '../helpers/laptop.js';
import { setUpWorkloads, type InterceptEnv } from '../intercept/helpers.js';

export const CLIENT_PY = join(CHECKOUT, 'test/e2e/close/client.py');
export const CLIENT_MJS = join(CHECKOUT, 'test/e2e/close/client.mjs');
/** The large body of ending (a), and the pace its slow reader takes it at (bytes/s). */
export const BIG = 32 * 1024 * 1024;
export const SLOW_RATE = 16 * 1024 * 1024;
/** Bytes a client sends before it half-closes, and the answer it then reads. */
export const UPLOAD = 4 * 1024 * 1024;
export const ANSWER = 8 * 1024 * 1024;
export const WORKLOADS = ['far', 'glob', 'pers', 'bench'];

/** The namespace (workloads from fixtures/) and a traffic-manager of its own. */
export function setUpMatrix(namespace: string): Promise<InterceptEnv> {
  return setUpWorkloads(namespace, 'test/e2e/close/fixtures/workloads.yaml.tmpl', WORKLOADS);
}

/** What a client printed: body bytes and digest, how it ended, and per ending extras. */
export interface ClientResult {
  bytes: number;
  sha256: string;
  ended: 'end' | 'reset';
  /** upload: what the server received ("<bytes> <sha256>") and what the client sent. */
  serverSaw?: string;
  sent?: string;
  /** hold: how the server saw the client's reset ("reset", or "end" when it became a FIN). */
  outcome?: string;
}

export type Ending = 'big' | 'get-shut' | 'upload' | 'reset' | 'hold';

/** The client arguments of an ending (the same for client.py and client.mjs). */
export function endingArgs(ending: Ending, id: string): string[] {
  switch (ending) {
    case 'big':
      return ['big', String(BIG), String(SLOW_RATE)];
    case 'get-shut':
      return ['get-shut', String(ANSWER)];
    case 'upload':
      return ['upload', String(UPLOAD), String(ANSWER)];
    case 'reset':
      return ['reset', String(ANSWER)];
    case 'hold':
      return ['hold', id];
  }
}

const digests = new Map<number, string>();
export function patternDigest(n: number): string {
  let digest = digests.get(n);
  if (!digest) digests.set(n, (digest = sha256(patternBytes(n))));
  return digest;
}

/** Asserts what `ending` must look like: every byte and an end, or a reset seen as a reset. */
export function checkEnding(t: ExecutionContext, ending: Ending, output: { code: number; stdout: string; stderr: string }): void {
  t.is(output.code, 0, `client failed: ${output.stderr}${output.stdout}`);
  const result = JSON.parse(output.stdout.trim().split('\n').at(-1) ?? '{}') as ClientResult;
  switch (ending) {
    case 'big':
    case 'get-shut': {
      const size = ending === 'big' ? BIG : ANSWER;
      t.is(result.bytes, size, 'bytes of the body');
      t.is(result.sha256, patternDigest(size), 'SHA-256 of the body');
      t.is(result.ended, 'end', 'the server closed with a FIN, the client must see an end');
      return;
    }
    case 'upload':
      t.is(result.serverSaw, `${UPLOAD} ${patternDigest(UPLOAD)}`, 'what the server received before our FIN');
      t.is(result.sent, result.serverSaw);
      t.is(result.bytes, ANSWER, 'bytes of the answer read after our half-close');
      t.is(result.sha256, patternDigest(ANSWER));
      t.is(result.ended, 'end');
      return;
    case 'reset':
      t.is(result.ended, 'reset', 'the server reset: the client must see ECONNRESET, not an end');
      t.true(result.bytes < ANSWER, `${result.bytes} bytes of a body cut by a reset`);
      return;
    case 'hold':
      t.is(result.outcome, 'reset', 'the client reset: the server must see ECONNRESET, not an end');
  }
}

/** client.py in the `client` pod (its source passed inline); CLOSE_HEADER added when given. */
export async function pyInPod(namespace: string, args: string[], header?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const source = readFileSync(CLIENT_PY, 'utf8');
  const argv = ['env', ...(header ? [`CLOSE_HEADER=${header}`] : []), 'python3', '-c', source, ...args];
  return execInPod('client', argv, namespace, 90_000);
}

/** curl --limit-rate of /big piped into sha256sum: "<exit code> <digest>", curl's errors on failure. */
export function curlBigScript(curlArgs: string[], url: string): string[] {
  const quoted = [...curlArgs, url].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
  return ['bash', '-o', 'pipefail', '-c', `curl -sS --fail --http1.0 --max-time 60 --limit-rate ${SLOW_RATE} ${quoted} | sha256sum`];
}

/** A process the test started (python's http.server): its port, read from what it prints. */
export async function pythonHttpServer(directory: string): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn('python3', ['-u', '-m', 'http.server', '--bind', '127.0.0.1', '--directory', directory, '0'], { stdio: ['ignore', 'pipe', 'ignore'] });
  let seen = '';
  const port = await new Promise<number | undefined>((resolve) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      seen += String(chunk);
      const match = /port (\d+)/.exec(seen);
      if (match) resolve(Number(match[1]));
    });
    child.once('exit', () => resolve(undefined));
  });
  if (port !== undefined) return { port, child };
  throw new Error(`python3 -m http.server exited before it listened: ${seen}`);
}
