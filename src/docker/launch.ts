// `tp connect --docker`, and status and quit for such a connection: the daemon runs in a
// container `tp-<name>` of the user's engine, from tp's image, as the user's uid (so its control
// socket, in the connection's folder mounted at /tp, is the user's own 0600 socket) and the group
// the capture rules leave alone, with NET_ADMIN for those rules. Its SOCKS5 and HTTP doors are
// published on the host's 127.0.0.1 and ask for the user's credentials (a published port does not
// show which user connects); the DNS stub, whose protocol has no credentials, is not published:
// the host's companion serves it on 127.0.0.1 and checks who asks (dns-door.ts).
// Containers started with `--network container:tp-<name>` are captured (src/capture/container.ts).
import { spawn } from 'node:child_process';
import { openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { ConnectResult } from '../daemon/cli-to-daemon.js';
import { ControlCaller } from '../daemon/control-caller.js';
import type { DaemonConfig } from '../daemon/config.js';
import type { DaemonStatus } from '../daemon/daemon.js';
import { errorFromBody, TpError } from '../errors.js';
import { contextNamespace, loadKubeConfig } from '../k8s/kubeconfig.js';
import { TP_VERSION } from '../version.js';
import { captureContainer } from '../capture/container.js';
import { CONTAINER_PREFIX, CONNECTION_LABEL, CONTAINER_DIR, CONTAINER_KUBECONFIG, checkName, connectionDir, containerEnvFor, defaultName, ensureConnectionDir, hostDaemonPaths, hostPath, hostRoutesFile, readRecord, writeRecord, type ConnectionRecord } from './connection.js';
import { CONTAINER_PORTS } from './entry.js';
import { bridgeGateway, engineCall, EngineCallError, findEngine, type Engine } from './engine.js';
import { containerKubeconfig, CREDENTIALS_SECRET_ENV, CREDENTIALS_URL_ENV } from './kubeconfig.js';
import { CREDENTIALS_PATH, newSecret } from './credentials.js';
import type { CompanionPorts } from './api-relay.js';
import type { DaemonPaths } from '../daemon/paths.js';
import { shimFiles } from '../run/daemon/routes-file.js';

/** The daemon's group in its container, exempt from the capture rules: one no image uses (not the usual 0, 1000 or 65532 "nonroot"). */
export const DAEMON_GID = 2_000_065_532;
/** The host name the container reaches the host's API relay by. */
const RELAY_HOST = 'tp-host';
export const IMAGE_ENV = 'TP_DOCKER_IMAGE';
const RUN_JS = new URL('../../bin/run.js', import.meta.url).pathname;

export interface DockerConnectOptions {
  config: DaemonConfig;
  name?: string;
  image?: string;
}

export interface DockerConnectResult extends ConnectResult {
  docker: { name: string; container: string; engine: string };
}

export async function connectDocker({ config, name: wanted, image: imageFlag }: DockerConnectOptions, env: NodeJS.ProcessEnv = process.env): Promise<DockerConnectResult> {
  const kc = loadKubeConfig(config);
  const namespace = config.namespace ?? contextNamespace(kc);
  const name = wanted ? checkName(wanted) : defaultName(kc.getCurrentContext(), namespace);
  const container = `${CONTAINER_PREFIX}${name}`;
  const engine = await findEngine(env);
  const dir = connectionDir(name, env);
  const found = await inspect(engine.cli, container);
  if (found) {
    const record = readRecord(dir);
    if (found.labels[CONNECTION_LABEL] !== name || !record) {
      throw new TpError('TP_ERR_DOCKER_NAME_IN_USE', `A container named ${container} already exists and is not a tp connection of yours.`, {
        hints: [`Pick another name: tp connect --docker --name <name>`, `Or remove it if it is yours to remove: ${engine.cli} rm -f ${container}`],
      });
    }
    if (found.running) {
      const status = await daemonStatus(dir).catch(() => null);
      if (status && status.phase !== 'failed') return { alreadyConnected: true, status: hostView(status, dir, record), docker: { name, container, engine: engine.description } };
    }
    await removeConnection(engine.cli, record, dir);
  }
  const image = imageFlag ?? env[IMAGE_ENV] ?? env.TP_IMAGE ?? `tp/tp:${TP_VERSION}`;
  await ensureImage(engine, image);
  ensureConnectionDir(dir);
  const kube = containerKubeconfig(kc);
  writeFileSync(join(dir, 'kubeconfig'), kube.text, { mode: 0o600 });
  const record: ConnectionRecord = { name, container, cli: engine.cli, engine: engine.description, image, ports: { socks: 0, http: 0 }, createdAt: new Date().toISOString() };
  try {
    const args = ['run', '-d', '--name', container, '--label', `${CONNECTION_LABEL}=${name}`, '--cap-add', 'NET_ADMIN', '--user', `${process.getuid?.() ?? 0}:${DAEMON_GID}`];
    args.push('-p', `127.0.0.1:${config.socksPort ?? ''}:${CONTAINER_PORTS.socks}`, '-p', `127.0.0.1:${config.httpPort ?? ''}:${CONTAINER_PORTS.http}`);
    args.push('-v', `${dir}:${CONTAINER_DIR}`, '-v', `${join(dir, 'kubeconfig')}:${CONTAINER_KUBECONFIG}:ro`);
    for (const [key, value] of Object.entries({ ...containerEnvFor(CONTAINER_DIR), KUBECONFIG: CONTAINER_KUBECONFIG, TP_DOOR_CHECK: 'credentials' })) if (value) args.push('-e', `${key}=${value}`);
    const entryFlags = ['--config', JSON.stringify({ ...config, kubeconfig: CONTAINER_KUBECONFIG, context: kube.context, namespace, socksPort: undefined, httpPort: undefined, dnsPort: undefined })];
    const companionFlags = ['--dns-port', String(config.dnsPort ?? 0)];
    const gateway = kube.loopbackPort || kube.exec ? await bridgeGateway(engine) : undefined;
    if (gateway) {
      const secretFile = join(dir, 'credentials.secret');
      if (kube.exec) newSecret(secretFile);
      // The plugin (its env may hold secrets) goes in a 0600 file, not on a command line every user can read.
      const pluginFile = join(dir, 'exec-plugin.json');
      if (kube.exec) writeFileSync(pluginFile, JSON.stringify(kube.exec), { mode: 0o600 });
      companionFlags.push('--listen', gateway, ...(kube.loopbackPort ? ['--to', `127.0.0.1:${kube.loopbackPort}`] : []), ...(kube.exec ? ['--plugin-file', pluginFile, '--secret-file', secretFile] : []));
      args.push('--add-host', `${RELAY_HOST}:${gateway}`);
    }
    const companion = await startCompanion([...companionFlags, '--dir', dir], dir);
    record.apiRelay = { pid: companion.pid, listen: gateway ?? '127.0.0.1' };
    record.ports.dns = companion.ports.dns;
    if (companion.ports.relay) entryFlags.push('--api', JSON.stringify({ port: kube.loopbackPort, relayHost: RELAY_HOST, relayPort: companion.ports.relay }));
    if (companion.ports.credentials) args.push('-e', `${CREDENTIALS_URL_ENV}=http://${RELAY_HOST}:${companion.ports.credentials}${CREDENTIALS_PATH}`, '-e', `${CREDENTIALS_SECRET_ENV}=${CONTAINER_DIR}/credentials.secret`);
    writeRecord(dir, record);
    await engineCall(engine.cli, [...args, image, 'docker', 'entry', ...entryFlags]).catch((error: EngineCallError) => {
      throw runRefusal(error, engine, container);
    });
    const status = await waitForDaemon(engine, container, dir);
    if (status.phase === 'failed' && status.error) throw errorFromBody(status.error, 'TP_ERR_DAEMON_START');
    await captureContainer((argv, input) => engineCall(engine.cli, ['exec', '-i', '-u', '0', container, ...argv], { input }), DAEMON_GID).catch((error: EngineCallError) => {
      if (/not permitted|permission denied/i.test(error.stderr)) {
        throw new TpError('TP_ERR_DOCKER_NET_ADMIN', `The engine did not give ${container} the NET_ADMIN capability, which the capture rules need (${error.message}).`, {
          hints: ['Allow NET_ADMIN for containers (rootless engines, and policies such as a Pod Security or an authorization plugin, may refuse it).', 'Docker Desktop and a rootful Docker or podman allow it by default.'],
        });
      }
      throw error;
    });
    record.ports = { ...record.ports, socks: await publishedPort(engine, container, CONTAINER_PORTS.socks), http: await publishedPort(engine, container, CONTAINER_PORTS.http) };
    writeRecord(dir, record);
    return { alreadyConnected: false, status: hostView(status, dir, record), docker: { name, container, engine: engine.description } };
  } catch (error) {
    await removeConnection(engine.cli, record, dir, { keepLogs: true });
    throw error;
  }
}

/** The daemon's status, as the host sees it; null when its control socket does not answer. */
export async function daemonStatus(dir: string): Promise<DaemonStatus> {
  const control = await ControlCaller.connect(hostDaemonPaths(dir).controlSocket, 2000);
  try {
    return await control.call<DaemonStatus>('status');
  } finally {
    control.close();
  }
}

export async function dockerStatus(record: ConnectionRecord, dir: string): Promise<DaemonStatus | null> {
  const status = await daemonStatus(dir).catch(() => null);
  return status && hostView(status, dir, record);
}

/** What `tp run` needs of a Docker-mode connection: its status as the host sees it, its files, and the host's shim files (the companion's routes file, the daemon's capture socket). */
export async function dockerRunTarget(record: ConnectionRecord, dir: string): Promise<{ status: DaemonStatus; paths: DaemonPaths; files: { routesFile: string; captureSocket: string } }> {
  const status = await dockerStatus(record, dir);
  if (!status) {
    throw new TpError('TP_ERR_NOT_CONNECTED', `The daemon of connection ${record.name} (container ${record.container}) does not answer.`, {
      hints: [`See why: tp status --use ${record.name}`, `Start it again: tp quit --use ${record.name}, then tp connect --docker --name ${record.name}`],
    });
  }
  const paths = hostDaemonPaths(dir);
  return { status, paths, files: { routesFile: hostRoutesFile(dir), captureSocket: shimFiles(paths).captureSocket } };
}

/** Stops the daemon (SIGTERM: it leaves its intercepts and ends), removes its container, the API relay and the connection's folder. */
export async function quitDocker(record: ConnectionRecord, dir: string): Promise<void> {
  await engineCall(record.cli, ['stop', '--time', '15', record.container], { timeoutMs: 30_000 }).catch(() => undefined);
  await removeConnection(record.cli, record, dir);
}

async function removeConnection(cli: string, record: ConnectionRecord, dir: string, options: { keepLogs?: boolean } = {}): Promise<void> {
  // Containers joined to its network would lose it anyway, and an engine may refuse to remove it while they exist.
  for (const joined of await joinedContainers(cli, record.container)) await engineCall(cli, ['rm', '-f', joined]).catch(() => undefined);
  // An engine may refuse to remove a container while it is still stopping: try again until it is gone.
  for (let attempt = 0; attempt < 20; attempt++) {
    await engineCall(cli, ['rm', '-f', record.container]).catch(() => undefined);
    if (!(await inspect(cli, record.container))) break;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  if (record.apiRelay) {
    try {
      process.kill(record.apiRelay.pid, 'SIGTERM');
    } catch {
      // gone already
    }
  }
  if (options.keepLogs) {
    for (const name of ['connection.json', 'kubeconfig', 'exec-plugin.json', 'credentials.secret', 'host.routes', 'state', 'home']) rmSync(join(dir, name), { recursive: true, force: true });
  } else {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The containers that share `container`'s network (`--network container:<name or id>`). */
async function joinedContainers(cli: string, container: string): Promise<string[]> {
  try {
    const id = (await engineCall(cli, ['container', 'inspect', '--format', '{{.Id}}', container])).trim();
    const all = (await engineCall(cli, ['ps', '-a', '--format', '{{.ID}}'])).split('\n').filter(Boolean);
    if (all.length === 0) return [];
    const modes = await engineCall(cli, ['container', 'inspect', '--format', '{{.Id}} {{.HostConfig.NetworkMode}}', ...all]);
    return modes
      .split('\n')
      .map((line) => line.trim().split(' '))
      .filter(([, mode]) => mode === `container:${container}` || mode === `container:${id}`)
      .map(([joined]) => joined);
  } catch {
    return [];
  }
}

/** The status with the host's view of the doors (published ports) and files. */
function hostView(status: DaemonStatus, dir: string, record: ConnectionRecord): DaemonStatus {
  const view = { ...status, logFile: hostPath(dir, status.logFile) };
  if (status.listeners && record.ports.socks) {
    const key = status.listeners.credentials ? `?key=${status.listeners.credentials.password}` : '';
    view.listeners = {
      ...status.listeners,
      socks: `127.0.0.1:${record.ports.socks}`,
      http: `127.0.0.1:${record.ports.http}`,
      pac: `http://127.0.0.1:${record.ports.http}${new URL(status.listeners.pac).pathname}${key}`,
      dns: record.ports.dns ? `127.0.0.1:${record.ports.dns}` : `not on this machine (containers on container:${record.container} resolve through it)`,
    };
  }
  return view;
}

async function inspect(cli: string, container: string): Promise<{ running: boolean; labels: Record<string, string> } | null> {
  try {
    const [state] = JSON.parse(await engineCall(cli, ['container', 'inspect', container])) as { State?: { Running?: boolean }; Config?: { Labels?: Record<string, string> | null } }[];
    return { running: !!state?.State?.Running, labels: state?.Config?.Labels ?? {} };
  } catch {
    return null;
  }
}

async function ensureImage(engine: Engine, image: string): Promise<void> {
  if (await engineCall(engine.cli, ['image', 'inspect', image]).then(() => true, () => false)) return;
  // Not here: fetch it as `docker run` would, unless it names no registry to fetch from.
  if (!image.startsWith('localhost/') && (await engineCall(engine.cli, ['pull', image], { timeoutMs: 300_000 }).then(() => true, () => false))) return;
  throw new TpError('TP_ERR_DOCKER_IMAGE_MISSING', `The engine has no image ${image} and could not pull it.`, {
    hints: [
      `Build tp's image and load it into your engine: docker build -f Containerfile -t ${image} . (in tp's source), or on Linux with buildah: sudo npm run image`,
      `Or name an image your engine has or can pull: tp connect --docker --image <ref> (or ${IMAGE_ENV}=<ref>)`,
    ],
  });
}

function runRefusal(error: EngineCallError, engine: Engine, container: string): TpError {
  if (/already in use|already exists/i.test(error.stderr) && /name/i.test(error.stderr)) {
    return new TpError('TP_ERR_DOCKER_NAME_IN_USE', `The engine already has a container named ${container}.`, { hints: [`Pick another name with --name, or remove it: ${engine.cli} rm -f ${container}`] });
  }
  if (/address already in use|port is already allocated/i.test(error.stderr)) {
    return new TpError('TP_ERR_PORT_IN_USE', `A port to publish is already in use on 127.0.0.1 (${error.message}).`, { hints: ['Pick others with --socks-port and --http-port, or leave them out to get free ones.'] });
  }
  if (/NET_ADMIN|capabilit/i.test(error.stderr)) {
    return new TpError('TP_ERR_DOCKER_NET_ADMIN', `The engine refused the NET_ADMIN capability for ${container} (${error.message}).`, { hints: ['Allow NET_ADMIN for containers in your engine\'s settings or policy.'] });
  }
  return new TpError('TP_ERR_DOCKER_START', `The engine could not start ${container}: ${error.message}`, { hints: [`Check the engine: ${engine.cli} info`] });
}

/** Waits for the daemon in the container to answer and settle; a container that exits first is an error with its log. */
async function waitForDaemon(engine: Engine, container: string, dir: string, timeoutMs = 90_000): Promise<DaemonStatus> {
  const deadline = Date.now() + timeoutMs;
  const logFile = hostDaemonPaths(dir).logFile;
  for (;;) {
    const status = await daemonStatus(dir).catch(() => null);
    if (status && status.phase !== 'starting') return status;
    if (!status && !(await inspect(engine.cli, container))?.running) {
      const output = await engineCall(engine.cli, ['logs', '--tail', '20', container]).catch((error: Error) => error.message);
      throw new TpError('TP_ERR_DAEMON_START', `The daemon's container ${container} stopped before it was ready: ${output.trim().split('\n').slice(-5).join(' | ')}`, { hints: [`Its log: ${logFile}`] });
    }
    if (Date.now() > deadline) throw new TpError('TP_ERR_CONNECT_TIMEOUT', `The daemon in ${container} did not connect to the traffic-manager in time.`, { hints: [`Its log: ${logFile}`] });
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

async function publishedPort(engine: Engine, container: string, port: number): Promise<number> {
  const out = await engineCall(engine.cli, ['port', container, `${port}/tcp`]);
  const first = out.split('\n').find((line) => line.includes('127.0.0.1:')) ?? out.split('\n')[0];
  return Number(first.trim().split(':').pop());
}

/** Starts the host's companion (tp docker api-relay), detached; resolves with its ports once it listens. */
async function startCompanion(flags: string[], dir: string): Promise<{ pid: number; ports: CompanionPorts }> {
  const log = openSync(join(dir, 'companion.log'), 'a', 0o600);
  const child = spawn(process.execPath, [RUN_JS, 'docker', 'api-relay', ...flags], { detached: true, stdio: ['ignore', 'pipe', log] });
  const line = await new Promise<string | undefined>((resolve) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (text) => resolve(text));
    child.once('exit', () => resolve(undefined));
  });
  child.stdout!.destroy();
  child.unref();
  const said = line ? (JSON.parse(line) as CompanionPorts & { error?: { code: string; message: string; hints: string[] } }) : undefined;
  if (said?.error) throw errorFromBody(said.error, 'TP_ERR_DOCKER_START');
  if (!said || !child.pid) throw new TpError('TP_ERR_DOCKER_START', 'The host\'s companion of the container (DNS stub, API relay, credentials) could not start.', { hints: [`Its log: ${join(dir, 'companion.log')}`] });
  return { pid: child.pid, ports: said };
}
