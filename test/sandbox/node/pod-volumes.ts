// A pod's files under its pod dir: the service-account dir (token from the TokenRequest API,
// ca.crt, namespace) and the volumes — configMap and secret (items, defaultMode, optional),
// emptyDir, projected (serviceAccountToken, configMap, secret, downwardAPI), downwardAPI and
// hostPath — plus each container's list of mounts for launcher.sh. ConfigMap, Secret, projected
// and downwardAPI volumes (and the service-account dir, a projected volume on a real node) are
// written as the real kubelet's atomic writer does: the files in a `..<timestamp>` dir, a `..data`
// symlink to it swapped by rename, and each top-level name a symlink through `..data`;
// refreshPodVolumes() rewrites ConfigMap and Secret contents that changed the same way (the
// kubelet's periodic sync). Leaves out token refresh, PVCs and every other volume type (a pod using
// one fails with a clear message). Used by the kubelet (pod-worker.ts).
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import type { V1Container, V1KeyToPath, V1Pod, V1Volume } from '@kubernetes/client-node';
import { ContainerConfigError, fieldValue, type EnvSources, type PodPlace } from './pod-env.js';

export const SERVICE_ACCOUNT_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';
const DEFAULT_MODE = 0o644;
const DEFAULT_TOKEN_SECONDS = 3600;

export interface VolumeSources extends Pick<EnvSources, 'configMap' | 'secret'> {
  caCert: string;
  /** A token from the TokenRequest API, bound to the pod. */
  serviceAccountToken(pod: V1Pod, serviceAccount: string, options: { expirationSeconds?: number; audiences?: string[] }): Promise<string>;
}

export interface Mount { source: string; target: string; readOnly: boolean }

export const volumeDir = (podDir: string, name: string): string => join(podDir, 'volumes', name);
export const serviceAccountDir = (podDir: string): string => join(podDir, 'serviceaccount');

/** Writes every volume and the service-account dir of the pod. */
export async function writePodVolumes(pod: V1Pod, podDir: string, place: PodPlace, sources: VolumeSources): Promise<void> {
  const ns = pod.metadata?.namespace ?? 'default';
  const serviceAccount = pod.spec?.serviceAccountName ?? 'default';
  if (pod.spec?.automountServiceAccountToken !== false) {
    const dir = serviceAccountDir(podDir);
    writeFiles(dir, {
      token: await sources.serviceAccountToken(pod, serviceAccount, {}),
      'ca.crt': sources.caCert,
      namespace: ns,
    }, DEFAULT_MODE);
  }
  for (const volume of pod.spec?.volumes ?? []) {
    const dir = volumeDir(podDir, volume.name);
    mkdirSync(dir, { recursive: true });
    await writeVolume(pod, volume, dir, place, sources);
  }
}

/**
 * Rewrites the ConfigMap and Secret volumes (and projected ones without a token) whose content
 * changed, as the kubelet's sync does. A source that is gone or now invalid leaves the files as
 * they are.
 */
export async function refreshPodVolumes(pod: V1Pod, podDir: string, place: PodPlace, sources: VolumeSources): Promise<void> {
  for (const volume of pod.spec?.volumes ?? []) {
    const refreshable = volume.configMap || volume.secret || (volume.projected && !(volume.projected.sources ?? []).some((s) => s.serviceAccountToken));
    if (!refreshable) continue;
    try {
      await writeVolume(pod, volume, volumeDir(podDir, volume.name), place, sources);
    } catch (error) {
      if (!(error instanceof ContainerConfigError)) throw error;
    }
  }
}

async function writeVolume(pod: V1Pod, volume: V1Volume, dir: string, place: PodPlace, sources: VolumeSources): Promise<void> {
  const ns = pod.metadata?.namespace ?? 'default';
  if (volume.emptyDir) {
    chmodSync(dir, 0o777);
  } else if (volume.hostPath) {
    // Mounted straight from the host path; nothing to write.
  } else if (volume.configMap) {
    const cm = await sources.configMap(ns, volume.configMap.name!);
    if (!cm && !volume.configMap.optional) throw new ContainerConfigError(`configmap "${volume.configMap.name}" not found`);
    writeFiles(dir, pick({ ...cm?.data, ...decodeAll(cm?.binaryData) }, volume.configMap.items, volume.configMap.optional), volume.configMap.defaultMode ?? DEFAULT_MODE);
  } else if (volume.secret) {
    const secret = await sources.secret(ns, volume.secret.secretName!);
    if (!secret && !volume.secret.optional) throw new ContainerConfigError(`secret "${volume.secret.secretName}" not found`);
    writeFiles(dir, pick(decodeAll(secret?.data), volume.secret.items, volume.secret.optional), volume.secret.defaultMode ?? DEFAULT_MODE);
  } else if (volume.downwardAPI) {
    const files: Record<string, string> = {};
    for (const item of volume.downwardAPI.items ?? []) if (item.fieldRef) files[item.path] = fieldValue(pod, item.fieldRef.fieldPath, place);
    writeFiles(dir, files, volume.downwardAPI.defaultMode ?? DEFAULT_MODE);
  } else if (volume.projected) {
    const files: Record<string, string> = {};
    for (const source of volume.projected.sources ?? []) {
      if (source.serviceAccountToken) {
        files[source.serviceAccountToken.path] = await sources.serviceAccountToken(pod, pod.spec?.serviceAccountName ?? 'default', {
          expirationSeconds: source.serviceAccountToken.expirationSeconds ?? DEFAULT_TOKEN_SECONDS,
          audiences: source.serviceAccountToken.audience ? [source.serviceAccountToken.audience] : undefined,
        });
      } else if (source.configMap) {
        const cm = await sources.configMap(ns, source.configMap.name!);
        if (!cm && !source.configMap.optional) throw new ContainerConfigError(`configmap "${source.configMap.name}" not found`);
        Object.assign(files, pick({ ...cm?.data }, source.configMap.items, source.configMap.optional));
      } else if (source.secret) {
        const secret = await sources.secret(ns, source.secret.name!);
        if (!secret && !source.secret.optional) throw new ContainerConfigError(`secret "${source.secret.name}" not found`);
        Object.assign(files, pick(decodeAll(secret?.data), source.secret.items, source.secret.optional));
      } else if (source.downwardAPI) {
        for (const item of source.downwardAPI.items ?? []) if (item.fieldRef) files[item.path] = fieldValue(pod, item.fieldRef.fieldPath, place);
      }
    }
    writeFiles(dir, files, volume.projected.defaultMode ?? DEFAULT_MODE);
  } else {
    throw new ContainerConfigError(`volume "${volume.name}": only configMap, secret, emptyDir, projected, downwardAPI and hostPath volumes are supported here`);
  }
}

/** The mounts of one container: its volumeMounts plus the service-account dir unless it mounts its own. */
export function containerMounts(pod: V1Pod, container: V1Container, podDir: string): Mount[] {
  const volumes = new Map((pod.spec?.volumes ?? []).map((v) => [v.name, v]));
  const mounts: Mount[] = [];
  for (const mount of container.volumeMounts ?? []) {
    const volume = volumes.get(mount.name);
    if (!volume) throw new ContainerConfigError(`volumeMount "${mount.name}" names no volume of the pod`);
    let source = volume.hostPath ? volume.hostPath.path : volumeDir(podDir, mount.name);
    if (mount.subPath) source = join(source, safeRelative(mount.subPath));
    mounts.push({ source, target: mount.mountPath, readOnly: mount.readOnly ?? false });
  }
  const ownsServiceAccountPath = mounts.some((m) => normalize(m.target) === SERVICE_ACCOUNT_MOUNT);
  if (pod.spec?.automountServiceAccountToken !== false && !ownsServiceAccountPath) {
    mounts.push({ source: serviceAccountDir(podDir), target: SERVICE_ACCOUNT_MOUNT, readOnly: true });
  }
  return mounts;
}

/** launcher.sh's mounts file: `<source>\t<target>\tro|rw` lines. */
export function writeMountsFile(file: string, mounts: Mount[]): void {
  for (const m of mounts) {
    if (/[\t\n]/.test(m.source + m.target)) throw new ContainerConfigError(`mount path ${JSON.stringify(m.target)} contains a tab or newline`);
  }
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, mounts.map((m) => `${m.source}\t${m.target}\t${m.readOnly ? 'ro' : 'rw'}\n`).join(''));
}

function pick(data: Record<string, string>, items: V1KeyToPath[] | undefined, optional: boolean | undefined): Record<string, string> {
  if (!items) return data;
  const files: Record<string, string> = {};
  for (const item of items) {
    if (data[item.key] === undefined) {
      if (!optional) throw new ContainerConfigError(`key "${item.key}" not found`);
      continue;
    }
    files[item.path] = data[item.key];
  }
  return files;
}

function decodeAll(data: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
}

/**
 * The kubelet's atomic writer: unchanged content is left alone; otherwise the files go into a new
 * `..<timestamp>` dir, `..data` is pointed at it by renaming a fresh symlink over it, every
 * top-level name is a symlink `name -> ..data/name`, and the old timestamped dir is removed.
 */
function writeFiles(dir: string, files: Record<string, string>, mode: number): void {
  mkdirSync(dir, { recursive: true });
  const data = join(dir, '..data');
  const previous = existsSync(data) ? readlinkSync(data) : undefined;
  if (previous !== undefined && sameFiles(join(dir, previous), files, mode)) return;
  const stamp = `..${new Date().toISOString().replace(/[-:T]/g, '_').replace('Z', '')}${process.hrtime.bigint() % 1000000n}`;
  for (const [path, content] of Object.entries(files)) {
    const file = join(dir, stamp, safeRelative(path));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content, { mode });
    chmodSync(file, mode);
  }
  mkdirSync(join(dir, stamp), { recursive: true });
  symlinkSync(stamp, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), data);
  const names = new Set(Object.keys(files).map((path) => safeRelative(path).split('/')[0]));
  for (const name of names) if (!existsSync(join(dir, name))) symlinkSync(join('..data', name), join(dir, name));
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith('..') || names.has(entry)) continue;
    if (lstatSync(join(dir, entry)).isSymbolicLink()) rmSync(join(dir, entry));
  }
  if (previous !== undefined) rmSync(join(dir, previous), { recursive: true, force: true });
}

function sameFiles(current: string, files: Record<string, string>, mode: number): boolean {
  const listed = (d: string, prefix: string): string[] =>
    readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listed(join(d, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`]));
  try {
    const paths = Object.keys(files).map(safeRelative);
    if (listed(current, '').sort().join('\n') !== [...paths].sort().join('\n')) return false;
    return paths.every((path, i) => readFileSync(join(current, path), 'utf8') === Object.values(files)[i] && (lstatSync(join(current, path)).mode & 0o7777) === mode);
  } catch {
    return false;
  }
}

/** A relative path that stays inside its dir (no absolute paths, no `..`). */
function safeRelative(path: string): string {
  const clean = normalize(path);
  if (clean.startsWith('/') || clean === '..' || clean.startsWith('../')) throw new ContainerConfigError(`path ${JSON.stringify(path)} leaves its volume`);
  return clean;
}
