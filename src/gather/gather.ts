// `tp gather-logs`: everything a user can hand over when something went wrong, in one .tar.gz:
// the daemon's logs (with the rotated files; for a Docker-mode connection also its host-side
// companion's), `tp status --output json`, the versions of the parts,
// the effective configuration, the manager's and the agents' logs from the cluster, and notes on
// what could not be read. Every file passes through redact() on its way in.
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { arch, release, tmpdir, type as osType, version as osVersion } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { create as createTar } from 'tar';
import { configFilePath, resolveConfig, userConfig } from '../cli/config-file.js';
import { status as daemonStatus } from '../daemon/cli-to-daemon.js';
import type { DaemonStatus } from '../daemon/daemon.js';
import type { DaemonPaths } from '../daemon/paths.js';
import { TpError } from '../errors.js';
import type { InterceptStatus } from '../intercept/control.js';
import { loadKubeConfig, type KubeConfigOptions } from '../k8s/kubeconfig.js';
import { TP_VERSION } from '../version.js';
import { gatherClusterLogs } from './cluster-logs.js';
import { redact } from './redact.js';

export interface GatherOptions extends KubeConfigOptions {
  /** The archive to write; must end in .tar.gz or .tgz and must not exist. */
  file: string;
  managerNamespace: string;
  paths: DaemonPaths;
  /** Skip the cluster (no API calls). */
  noCluster?: boolean;
  /** A Docker-mode connection's folder: its host-side companion's logs are gathered too. */
  companionDir?: string;
}

export interface GatherResult {
  file: string;
  bytes: number;
  entries: { name: string; bytes: number }[];
  notes: string[];
}

export function defaultArchiveName(now = new Date()): string {
  return `tp-logs-${now.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15)}.tar.gz`;
}

export function checkArchivePath(file: string): void {
  if (!/\.(tar\.gz|tgz)$/.test(file)) {
    throw new TpError('TP_ERR_GATHER_OUTPUT', `tp writes the logs as a .tar.gz archive, not "${basename(file).slice(0, 80)}".`, { hints: [`Name the file with .tar.gz or .tgz: tp gather-logs --output-file ${file.replace(/(\.[a-z0-9]+)?$/i, '.tar.gz')}`] });
  }
  if (existsSync(file)) throw new TpError('TP_ERR_GATHER_OUTPUT', `${file} exists already; tp does not overwrite it.`, { hints: ['Name another file with --output-file, or move that one away.'] });
  if (!existsSync(dirname(file) || '.')) throw new TpError('TP_ERR_GATHER_OUTPUT', `The directory of ${file} does not exist.`, { hints: ['Create it first, or name a file in an existing directory.'] });
}

export async function gatherLogs(options: GatherOptions): Promise<GatherResult> {
  checkArchivePath(options.file);
  const notes: string[] = [];
  const files: { name: string; text: string }[] = [];
  const secrets: string[] = [];
  const doorSecret = readIfThere(join(options.paths.stateDir, 'door-secret'));
  if (doorSecret) secrets.push(doorSecret);

  const current = await daemonStatus(options.paths).catch((err: Error) => {
    notes.push(`tp status: ${err.message}`);
    return null;
  });
  if (current?.listeners?.credentials) secrets.push(current.listeners.credentials.password);
  files.push({ name: 'status.json', text: JSON.stringify(current ? { connected: true, ...current } : { connected: false }, null, 2) });
  files.push({ name: 'versions.json', text: JSON.stringify(await versions(current), null, 2) });
  files.push({ name: 'config.json', text: effectiveConfig(notes) });
  files.push(...daemonLogs(options.paths.logDir, notes));
  if (options.companionDir) files.push(...logsIn(options.companionDir, /^companion\.log/, 'docker', notes));

  if (!options.noCluster) {
    try {
      // The daemon's context when this kubeconfig has it (the cluster the problem is in), else its current one.
      const kc = loadKubeConfig({ kubeconfig: options.kubeconfig, context: options.context });
      if (!options.context && current?.context && kc.getContextObject(current.context)) kc.setCurrentContext(current.context);
      const cluster = await gatherClusterLogs(kc, current?.managerNamespace || options.managerNamespace, agentNamespaces(current));
      files.push(...cluster.files);
      notes.push(...cluster.notes);
      secrets.push(...cluster.secrets);
    } catch (err) {
      notes.push(`cluster: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  files.push({ name: 'notes.txt', text: notes.length > 0 ? notes.join('\n') + '\n' : 'Everything was gathered.\n' });
  const entries = await writeArchive(options.file, files.map((f) => ({ name: f.name, text: redact(f.text, secrets) })));
  return { file: options.file, bytes: statSync(options.file).size, entries, notes };
}

/** The intercepts' namespaces and the connected one: where this user's agents are. */
function agentNamespaces(current: DaemonStatus | null): string[] {
  if (!current) return [];
  const intercepts = (current.features?.intercepts ?? []) as InterceptStatus[];
  const namespaces = intercepts.flatMap((i) => / in (\S+)$/.exec(i.workload)?.[1] ?? []);
  return [...new Set([current.namespace, ...namespaces].filter(Boolean))];
}

async function versions(current: DaemonStatus | null): Promise<Record<string, string>> {
  const kubectl = await promisify(execFile)('kubectl', ['version', '--client', '--output', 'json'], { timeout: 10_000 })
    .then(({ stdout }) => (JSON.parse(stdout) as { clientVersion?: { gitVersion?: string } }).clientVersion?.gitVersion ?? 'unknown')
    .catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? 'not installed' : `failed: ${err.message.split('\n')[0]}`));
  return {
    tp: TP_VERSION,
    node: process.version,
    os: `${osType()} ${release()} ${arch()} (${osVersion()})`,
    kubectl,
    daemon: current?.version ?? 'not running',
    manager: current?.manager?.managerVersion ?? 'unknown (not connected)',
  };
}

function effectiveConfig(notes: string[]): string {
  try {
    return JSON.stringify({ file: configFilePath(), settings: resolveConfig({}, process.env, userConfig()) }, null, 2);
  } catch (err) {
    notes.push(`config: ${(err as Error).message}`);
    return JSON.stringify({ file: configFilePath(), error: (err as Error).message }, null, 2);
  }
}

/** Every file in the daemon's log directory: the current logs and their rotated copies. */
function daemonLogs(logDir: string, notes: string[]): { name: string; text: string }[] {
  return logsIn(logDir, /./, 'daemon', notes);
}

/** The files of `dir` whose names match, under `folder/` in the archive (a note when there are none). */
function logsIn(dir: string, names: RegExp, folder: string, notes: string[]): { name: string; text: string }[] {
  let found: string[];
  try {
    found = readdirSync(dir).filter((name) => names.test(name) && statSync(join(dir, name)).isFile()).sort();
  } catch (err) {
    notes.push(`${folder} logs: ${(err as Error).message}`);
    return [];
  }
  if (found.length === 0) notes.push(`${folder} logs: none in ${dir}`);
  return found.map((name) => ({ name: `${folder}/${name}`, text: readFileSync(join(dir, name), 'utf8') }));
}

function readIfThere(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** Writes the files under one folder named like the archive, gzipped, readable only by the user. */
async function writeArchive(file: string, files: { name: string; text: string }[]): Promise<GatherResult['entries']> {
  const staging = mkdtempSync(join(tmpdir(), 'tp-gather-'));
  const top = basename(file).replace(/\.(tar\.gz|tgz)$/, '');
  try {
    for (const { name, text } of files) {
      const path = join(staging, top, name);
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      writeFileSync(path, text, { mode: 0o600 });
    }
    await createTar({ gzip: true, file, cwd: staging, portable: true }, [top]);
    chmodSync(file, 0o600);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return files.map(({ name, text }) => ({ name: `${top}/${name}`, bytes: Buffer.byteLength(text) }));
}
