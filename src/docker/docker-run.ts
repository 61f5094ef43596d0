// `tp intercept … --docker-run -- <image> [args]`: the handler runs as a container in the
// Docker-mode daemon's network (so the intercepted traffic, which the daemon sends to its own
// loopback port, reaches it, and it reaches the cluster as every joined container does), with
// the pod's environment and, when the pod's mounts were copied (docs/volumes.md), those copies
// mounted at their paths in the pod (read-only, or read-write with --mount-rw, whose writes go
// back to the pod) and TP_ROOT at the copy; the intercept ends when the container does, and its
// exit code is tp's.
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatEnv } from '../intercept/env-file.js';
import { intercept, leave, type InterceptOptions, type InterceptResult } from '../intercept/intercept.js';
import { TpError } from '../errors.js';
import { podMountsOf } from '../capture/mounts.js';
import { hostDaemonPaths, hostPath, type ConnectionRecord } from './connection.js';
import { engineCall } from './engine.js';

export interface DockerRunOptions extends Omit<InterceptOptions, 'command' | 'paths'> {
  record: ConnectionRecord;
  dir: string;
  image: string;
  args: string[];
}

/** `-v` flags for the copy of the pod's mounts (TP_ROOT as the daemon in the container names it): the copy at TP_ROOT, and each mount at its pod path. */
export function copyVolumes(dir: string, environment: Record<string, string>, rw: boolean): string[] {
  const root = environment.TP_ROOT;
  if (!root) return [];
  const hostRoot = hostPath(dir, root);
  const mode = rw ? 'rw' : 'ro';
  return [`${hostRoot}:${root}:${mode}`, ...podMountsOf({ TP_ROOT: hostRoot }).map((mount) => `${mount.source}:${mount.path}:${mode}`)].flatMap((volume) => ['-v', volume]);
}

export async function interceptDockerRun(options: DockerRunOptions): Promise<InterceptResult> {
  if (options.mount?.dir) {
    throw new TpError('TP_ERR_INTERCEPT_BAD_SPEC', '--mount=DIR does not go with --docker-run: the copy lives in the connection\'s folder and the handler gets it at the pod\'s paths.', {
      hints: ['Leave out DIR (--mount, or nothing: mounts are copied by default).'],
    });
  }
  const paths = hostDaemonPaths(options.dir);
  const result = await intercept({ ...options, paths });
  const envFile = join(options.dir, `docker-run-${process.pid}.env`);
  const handler = `${options.record.container}-run-${process.pid}`;
  try {
    const { text, skipped } = formatEnv(result.environment, 'docker');
    writeFileSync(envFile, text, { mode: 0o600 });
    if (skipped.length) options.warn?.(`left out of the handler's environment: ${skipped.join(', ')}`);
    const interactive = process.stdin.isTTY ? ['-it'] : ['-i'];
    // Named and removed afterwards rather than --rm: podman's Docker API loses the exit code of a --rm container.
    const volumes = copyVolumes(options.dir, result.environment, options.mount?.rw === true);
    const child = spawn(options.record.cli, ['run', '--name', handler, ...interactive, '--network', `container:${options.record.container}`, '--env-file', envFile, ...volumes, options.image, ...options.args], { stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals): void => void child.kill(signal);
    process.on('SIGINT', forward).on('SIGTERM', forward);
    const exitCode = await new Promise<number>((resolve) => {
      child.once('error', (error) => {
        options.warn?.(`cannot run ${options.record.cli}: ${error.message}`);
        resolve(127);
      });
      child.once('exit', (code, signal) => resolve(code ?? (signal ? 128 : 1)));
    });
    process.off('SIGINT', forward).off('SIGTERM', forward);
    return { ...result, exitCode };
  } finally {
    rmSync(envFile, { force: true });
    await engineCall(options.record.cli, ['rm', '-f', handler]).catch(() => undefined);
    await leave(result.intercept.name, paths).catch((err: Error) => options.warn?.(`could not leave ${result.intercept.name}: ${err.message}`));
  }
}
