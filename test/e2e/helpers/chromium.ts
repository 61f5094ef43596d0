// Headless Chromium as a given local user, for the e2e tests that prove tp through a real browser:
// one run loads one URL with a PAC URL (and no other proxy setting) and gives back the page's DOM
// and what Chromium's own net-log says happened to each request: the status lines it read, the
// proxy list the PAC file chose and the net error it ended with. Each run gets a HOME of its own
// (where Chromium keeps its NSS certificate store) and a --user-data-dir inside it, both owned by
// the user, a timeout, and its whole process group is killed when it ends.
// Leaves out which user may get what: the tests say that. Used by browser.test.ts.
import { execFile, spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { RUNNING_AS_ROOT } from '../../helpers/unprivileged.js';

const execFileAsync = promisify(execFile);
const CHROMIUM = 'chromium';
const OUTPUT_CAP = 4 << 20;

/** One URL request as Chromium's net-log tells it. */
export interface PageRequest {
  url: string;
  /** The status line of every response read for it, e.g. "HTTP/1.1 200 OK". */
  statusLines: string[];
  /** The proxy list the PAC file gave for it, as Chromium writes it ("PROXY 127.0.0.1:1;SOCKS5 …" or "DIRECT"). */
  proxy?: string;
  /** The net error it ended with, by name (ERR_NAME_NOT_RESOLVED …); undefined when it succeeded. */
  error?: string;
}

export interface PageLoad {
  /** The DOM after load (`--dump-dom`); empty when the load failed. */
  dom: string;
  requests: PageRequest[];
  /** The outcome of each PAC fetch: "OK" or the net error Chromium gave it up with. */
  pacFetches: string[];
  stderr: string;
}

export interface PageOptions {
  /** The local user Chromium runs as (only honoured when the tests run as root). */
  user: string;
  url: string;
  pacUrl: string;
  /** A CA certificate (PEM path readable by the user) to trust, as a user would import it. */
  trustCa?: string;
  timeoutMs?: number;
}

/** `cmd args…` as `user` when we are root, as ourselves otherwise. */
function asUser(user: string, cmd: string, args: string[]): [string, string[]] {
  return RUNNING_AS_ROOT ? ['runuser', ['-u', user, '--', cmd, ...args]] : [cmd, args];
}

async function runAs(user: string, cmd: string, args: string[]): Promise<string> {
  const [file, argv] = asUser(user, cmd, args);
  return (await execFileAsync(file, argv, { encoding: 'utf8', timeout: 30_000 })).stdout;
}

/**
 * Chromium's own sandbox needs unprivileged user, PID and network namespaces (Debian's package has
 * no setuid helper). Where the machine allows them for this user (as on this project's CI) the
 * sandbox stays on, as on a developer's desktop; where a container or a kernel setting forbids them
 * Chromium refuses to start without `--no-sandbox`, which then is the only way to run it at all and
 * changes nothing tp can see: every Chromium process keeps the user's uid and the network service
 * stays in the machine's network namespace either way.
 */
async function sandboxFlags(user: string): Promise<string[]> {
  try {
    await runAs(user, 'unshare', ['--user', '--pid', '--net', '--fork', 'true']);
    return [];
  } catch {
    return ['--no-sandbox'];
  }
}

/** Loads `url` in headless Chromium as `user` with the PAC URL; resolves once Chromium has exited. */
export async function openPage(options: PageOptions): Promise<PageLoad> {
  const home = (await runAs(options.user, 'mktemp', ['-d', join(tmpdir(), 'tp-e2e-chromium-XXXXXX')])).trim();
  try {
    if (options.trustCa) {
      const db = `sql:${home}/.pki/nssdb`;
      await runAs(options.user, 'mkdir', ['-p', `${home}/.pki/nssdb`]);
      await runAs(options.user, 'certutil', ['-d', db, '-N', '--empty-password']);
      // The CA certificate is public; a copy in the user's own directory is one they can read.
      const ca = join(home, 'ca.crt');
      writeFileSync(ca, readFileSync(options.trustCa), { mode: 0o644 });
      await runAs(options.user, 'certutil', ['-d', db, '-A', '-n', 'tp-e2e-ca', '-t', 'C,,', '-i', ca]);
    }
    const netLog = join(home, 'net-log.json');
    const args = [
      '--headless=new',
      ...(await sandboxFlags(options.user)),
      `--user-data-dir=${join(home, 'profile')}`,
      `--proxy-pac-url=${options.pacUrl}`,
      // Chromium's own calls home (updates, time, dictionaries) only add noise to the net-log.
      '--disable-background-networking',
      '--no-first-run',
      `--log-net-log=${netLog}`,
      '--dump-dom',
      options.url,
    ];
    const { stdout, stderr } = await runInOwnGroup(...asUser(options.user, 'env', ['-i', `HOME=${home}`, `PATH=${process.env.PATH}`, 'LANG=C.UTF-8', CHROMIUM, ...args]), options.timeoutMs ?? 60_000);
    return { dom: stdout, stderr, ...readNetLog(readFileSync(netLog, 'utf8')) };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** Runs a command as the leader of a new process group and kills the whole group when it exits or times out. */
function runInOwnGroup(file: string, args: string[], timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    const out = { stdout: '', stderr: '' };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => { if (out.stdout.length < OUTPUT_CAP) out.stdout += chunk; });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => { if (out.stderr.length < OUTPUT_CAP) out.stderr += chunk; });
    const killGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // ESRCH: the group is gone already.
      }
    };
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; killGroup(); }, timeoutMs);
    child.on('exit', killGroup);
    child.on('error', (error) => { clearTimeout(timer); reject(error); });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) reject(new Error(`${CHROMIUM} did not finish within ${timeoutMs} ms; its stderr ends:\n${out.stderr.slice(-2000)}`));
      else if (code !== 0) reject(new Error(`${CHROMIUM} exited with ${code ?? signal}; its stderr ends:\n${out.stderr.slice(-2000)}`));
      else resolve(out);
    });
  });
}

interface NetLogEvent {
  type: number;
  phase: number;
  source: { id: number };
  params?: { url?: string; net_error?: number; headers?: string[]; proxy_info?: string; source_dependency?: { id: number } };
}

interface NetLog {
  constants: { logEventTypes: Record<string, number>; logEventPhase: Record<string, number>; netError: Record<string, number> };
  events: NetLogEvent[];
}

/** The requests and PAC fetches in a net-log (Chromium's JSON, complete once Chromium has exited). */
export function readNetLog(text: string): Pick<PageLoad, 'requests' | 'pacFetches'> {
  const log = JSON.parse(text) as NetLog;
  const type = (name: string) => log.constants.logEventTypes[name];
  const end = log.constants.logEventPhase.PHASE_END;
  const errorName = new Map(Object.entries(log.constants.netError).map(([name, code]) => [code, name]));
  const requests = new Map<number, PageRequest>();
  const controllerOf = new Map<number, number>();
  const proxyOf = new Map<number, string>();
  const pacFetches: string[] = [];
  for (const event of log.events) {
    const id = event.source.id;
    const params = event.params ?? {};
    const request = requests.get(id);
    if (event.type === type('URL_REQUEST_START_JOB') && params.url !== undefined && !request) requests.set(id, { url: params.url, statusLines: [] });
    else if (event.type === type('URL_REQUEST_START_JOB') && event.phase === end && request && params.net_error !== undefined) request.error = errorName.get(params.net_error) ?? String(params.net_error);
    else if (event.type === type('HTTP_TRANSACTION_READ_RESPONSE_HEADERS') && params.headers) request?.statusLines.push(params.headers[0]);
    else if (event.type === type('HTTP_STREAM_JOB_CONTROLLER_BOUND') && request && params.source_dependency) controllerOf.set(id, params.source_dependency.id);
    else if (event.type === type('PROXY_RESOLUTION_SERVICE_RESOLVED_PROXY_LIST') && params.proxy_info !== undefined) proxyOf.set(id, params.proxy_info);
    else if (event.type === type('PAC_FILE_DECIDER_FETCH_PAC_SCRIPT') && event.phase === end) pacFetches.push(params.net_error === undefined ? 'OK' : (errorName.get(params.net_error) ?? String(params.net_error)));
  }
  for (const [id, request] of requests) {
    const controller = controllerOf.get(id);
    if (controller !== undefined) request.proxy = proxyOf.get(controller);
  }
  return { requests: [...requests.values()], pacFetches };
}

/** The text of the page's first <pre> (how Chromium shows a plain-text or JSON answer), unescaped. */
export function preText(dom: string): string | undefined {
  const match = /<pre[^>]*>([\s\S]*?)<\/pre>/.exec(dom);
  return match?.[1].replaceAll('&lt;', '<').replaceAll('&gt;', '>').replaceAll('&quot;', '"').replaceAll('&amp;', '&');
}
