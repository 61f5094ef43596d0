// A Docker-mode connection on the host: its name, its container's name, and its folder, which the
// container mounts at /tp (the daemon's state, control socket and log live there, so the host's tp
// talks to the daemon in the container over the same 0600 Unix socket as to a native one) beside a
// record of what `tp connect --docker` made (container, engine CLI, published ports, the API relay's
// pid) for status and quit. Leaves out starting and stopping: launch.ts.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { daemonPaths, type DaemonPaths } from '../daemon/paths.js';
import { TpError } from '../errors.js';

/** Container names are tp-<name>; a label marks them as tp's, with the connection's name. */
export const CONTAINER_PREFIX = 'tp-';
export const CONNECTION_LABEL = 'io.tp.connection';
/** Where the container sees the connection's folder and the kubeconfig. */
export const CONTAINER_DIR = '/tp';
export const CONTAINER_KUBECONFIG = '/tp-kube/config';
const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,59}$/;

export interface ConnectionRecord {
  name: string;
  container: string;
  cli: string;
  engine: string;
  image: string;
  /** Host ports (127.0.0.1) the engine published for the SOCKS5 and HTTP doors, and the companion's DNS stub. */
  ports: { socks: number; http: number; dns?: number };
  /** The host-side companion (DNS stub; API relay for a loopback server, exec credentials at `listen`): its pid. */
  apiRelay?: { pid: number; listen: string };
  createdAt: string;
}

export function checkName(name: string): string {
  if (!NAME.test(name)) throw new TpError('TP_ERR_DOCKER_BAD_NAME', `"${name}" is not a valid connection name.`);
  return name;
}

/** The default name: context and namespace, made a valid container name, shortened with a hash when long. */
export function defaultName(context: string, namespace: string): string {
  const raw = `${context}-${namespace}`;
  let name = raw.toLowerCase().replace(/[^a-z0-9_.-]+/g, '-').replace(/^[^a-z0-9]+/, '').replace(/-+$/, '') || 'cluster';
  if (name.length > 40) name = `${name.slice(0, 32).replace(/[^a-z0-9]+$/, '')}-${createHash('sha256').update(raw).digest('hex').slice(0, 6)}`;
  return name;
}

/** The folder of all Docker-mode connections of this user: beside the native daemon's state. */
export function connectionsDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(daemonPaths(env).stateDir, 'docker');
}

export function connectionDir(name: string, env: NodeJS.ProcessEnv = process.env): string {
  return join(connectionsDir(env), name);
}

/** The daemon's files as the host sees them (the container sees the same under CONTAINER_DIR). */
export function hostDaemonPaths(dir: string): DaemonPaths {
  return daemonPaths(containerEnvFor(dir), 'default');
}

/** The XDG variables of the daemon in the container, rooted at `root` (CONTAINER_DIR there, the folder here). */
export function containerEnvFor(root: string): NodeJS.ProcessEnv {
  return { HOME: join(root, 'home'), XDG_STATE_HOME: join(root, 'state'), XDG_CACHE_HOME: join(root, 'cache'), XDG_RUNTIME_DIR: '' };
}

/** The routes file the host's companion keeps for `tp run`'s shims (host-shims.ts). */
export function hostRoutesFile(dir: string): string {
  return join(dir, 'host.routes');
}

/** A path of the container's (under CONTAINER_DIR) as the host sees it. */
export function hostPath(dir: string, containerPath: string): string {
  return containerPath.startsWith(`${CONTAINER_DIR}/`) ? join(dir, containerPath.slice(CONTAINER_DIR.length + 1)) : containerPath;
}

export function ensureConnectionDir(dir: string): void {
  for (const sub of ['', 'home', 'state', 'cache']) mkdirSync(join(dir, sub), { recursive: true, mode: 0o700 });
}

export function writeRecord(dir: string, record: ConnectionRecord): void {
  writeFileSync(join(dir, 'connection.json'), JSON.stringify(record, null, 2) + '\n', { mode: 0o600 });
}

export function readRecord(dir: string): ConnectionRecord | null {
  try {
    return JSON.parse(readFileSync(join(dir, 'connection.json'), 'utf8')) as ConnectionRecord;
  } catch {
    return null;
  }
}

/** Every Docker-mode connection this user has a record of, by name. */
export function listRecords(env: NodeJS.ProcessEnv = process.env): ConnectionRecord[] {
  let names: string[] = [];
  try {
    names = readdirSync(connectionsDir(env));
  } catch {
    return [];
  }
  return names.map((name) => readRecord(connectionDir(name, env))).filter((r): r is ConnectionRecord => r !== null);
}
