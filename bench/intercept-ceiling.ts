// The intercepted path's topology with no user-space cost of tp's own: a chain of socat relays
// standing where tp's processes and the port-forward stand, so bench:intercept can say what the
// hops alone allow on this machine. A pod's connection goes
//   client pod → relay in the pod of the workload (the agent's place) → relay in the manager's pod
//   (the manager's place) → socat in the manager's pod to the API server (the port-forward's
//   own, 32 KiB blocks, over a socket pair) → relay on the host (the API server's place) → TLS →
//   relay on the host (the daemon's place) → the laptop's echo
// and back the same way: the same processes, namespaces and TLS as the real path, each a
// plain read and write of up to 64 KiB. Every relay is single-use (one connection, then it exits)
// and runs under `sh -c '…; exec sleep'`, so its CPU time stays countable (in the shell's reaped
// children's time) after it exits. For keep-alive requests over several connections,
// startRelayChains starts one such chain per connection, on ports of their own (the real path
// multiplexes them over one tunnel; here each has its own relays and TLS connection). Used by
// intercept.ts; needs socat and openssl, as root.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort } from './free-port.js';

export interface RelayChainOptions {
  /** Network namespaces (names under /run/netns) of the intercepted workload's pod and of the manager's pod. */
  workloadNetns: string;
  managerNetns: string;
  workloadIp: string;
  managerIp: string;
  /** The laptop's server on 127.0.0.1 (the bulk echo, or the HTTP server for requests). */
  echoPort: number;
  /** Which chain this is when several run at once (each takes ports of its own); default 0. */
  index?: number;
}

export interface RelayChain {
  /** Where the client pod connects: the relay in the workload's pod. */
  host: string;
  port: number;
  /** The role of a relay's process or of one it started (the socats under each wrapping shell), else undefined. */
  roleOf(pid: number): string | undefined;
  /**
   * Ends every relay and resolves once this process has reaped them: until then their CPU time
   * (and their socats', in their children's time) is not yet in this process's children's time,
   * and would land there during whatever is measured next.
   */
  close(): Promise<void>;
}

/** The first chain's ports; chain i uses these plus 3 × i. */
const FIRST = { workload: 19_001, manager: 19_002, loopback: 19_003 } as const;
const BLOCK = String(64 * 1024);
/** The sandbox's port-forward socat copies in the blocks a real runtime uses (pod-loopback.ts). */
const PORT_FORWARD_BLOCK = String(32 * 1024);
/** Long enough for the measurement's after-snapshot; the chain kills it sooner. */
const LINGER_S = 600;

export async function startRelayChain(options: RelayChainOptions): Promise<RelayChain> {
  const shift = 3 * (options.index ?? 0);
  const [workloadPort, managerPort, loopbackPort] = [FIRST.workload + shift, FIRST.manager + shift, FIRST.loopback + shift];
  const dir = mkdtempSync(join(tmpdir(), 'tp-ceiling-'));
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-keyout', key, '-out', cert], { stdio: 'ignore' });
  if (made.status !== 0) throw new Error('openssl could not make a certificate for the relay chain');
  const tlsPort = await freeLoopbackPort();
  const children: ChildProcess[] = [];
  const roles = new Map<number, string>();
  const start = (role: string, socatArgs: string, netns?: string): void => {
    const socat = netns ? inNetns(netns, `socat ${socatArgs}`) : `socat ${socatArgs}`;
    // Its own process group, so close() ends the relay with whatever it started.
    const child = spawn('sh', ['-c', `${socat}; exec sleep ${LINGER_S}`], { stdio: 'ignore', detached: true });
    children.push(child);
    if (child.pid) roles.set(child.pid, role);
  };
  try {
    start('relay: daemon place', `-b ${BLOCK} OPENSSL-LISTEN:${tlsPort},bind=127.0.0.1,reuseaddr,cert=${cert},key=${key},verify=0,nodelay TCP4:127.0.0.1:${options.echoPort},nodelay`);
    await listening(undefined, tlsPort);
    // The API server's place: its end of the socket pair is a socat running the port-forward's
    // socat in the manager's pod, which (unlike the real one) listens, so the manager's relay can
    // reach it.
    // (A script, as socat would read the inner command's commas as its own options.) A socket
    // pair, not pipes as the API server uses: socat writes whole blocks blocking, and a block
    // into a pipe with less room than that waits, so two socats on pipes deadlock an echo.
    const portForward = join(dir, 'port-forward.sh');
    writeFileSync(portForward, `exec ${inNetns(options.managerNetns, `socat -b ${PORT_FORWARD_BLOCK} TCP4-LISTEN:${loopbackPort},bind=127.0.0.1,reuseaddr,nodelay STDIO`)}\n`);
    start('relay: API server place (with the port-forward socat)', `-b ${BLOCK} EXEC:'sh ${portForward}' OPENSSL:127.0.0.1:${tlsPort},verify=0,nodelay`);
    await listening(options.managerNetns, loopbackPort);
    start('relay: manager place', `-b ${BLOCK} TCP4-LISTEN:${managerPort},reuseaddr,nodelay TCP4:127.0.0.1:${loopbackPort},nodelay`, options.managerNetns);
    await listening(options.managerNetns, managerPort);
    start('relay: agent place', `-b ${BLOCK} TCP4-LISTEN:${workloadPort},reuseaddr,nodelay TCP4:${options.managerIp}:${managerPort},nodelay`, options.workloadNetns);
    await listening(options.workloadNetns, workloadPort);
  } catch (error) {
    await killAll(children);
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    host: options.workloadIp,
    port: workloadPort,
    roleOf: (pid) => {
      for (let p: number | undefined = pid, depth = 0; p !== undefined && p > 1 && depth < 5; p = parentOf(p), depth++) {
        const role = roles.get(p);
        if (role) return role;
      }
      return undefined;
    },
    close: async () => {
      await killAll(children);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `count` chains side by side (one per client connection), as one: every chain's entry, roles and close. */
export async function startRelayChains(options: RelayChainOptions, count: number): Promise<RelayChain & { entries: { host: string; port: number }[] }> {
  const chains: RelayChain[] = [];
  try {
    for (let index = 0; index < count; index++) chains.push(await startRelayChain({ ...options, index }));
  } catch (error) {
    await Promise.all(chains.map((chain) => chain.close()));
    throw error;
  }
  return {
    host: chains[0].host,
    port: chains[0].port,
    entries: chains.map(({ host, port }) => ({ host, port })),
    roleOf: (pid) => chains.map((chain) => chain.roleOf(pid)).find((role) => role !== undefined),
    close: async () => void (await Promise.all(chains.map((chain) => chain.close()))),
  };
}

function inNetns(netns: string, command: string): string {
  return `nsenter --net=/run/netns/${netns} ${command}`;
}

function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/** Kills each relay's process group and waits until every relay's process is reaped. */
async function killAll(children: ChildProcess[]): Promise<void> {
  const exited = children.map((child) => (!child.pid || child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((resolve) => child.once('exit', () => resolve()))));
  for (const child of children) {
    try {
      if (child.pid) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  await Promise.all(exited);
}

/** Waits until something listens on the port (in the namespace, or on the host). */
async function listening(netns: string | undefined, port: number): Promise<void> {
  const argv = [...(netns ? ['nsenter', `--net=/run/netns/${netns}`] : []), 'ss', '-Hltn', `sport = :${port}`];
  for (let i = 0; i < 200; i++) {
    const out = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8' });
    if (out.status === 0 && out.stdout.trim() !== '') return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`relay chain: nothing listens on port ${port}${netns ? ` in ${netns}` : ''}`);
}

