// Shared by Docker mode's end-to-end tests: the engine and tp's image they use (test/e2e/README.md),
// the engine's CLI as the test runner, static Go programs built for a small image, and images made
// from a root filesystem with `docker import` (no registry needed).
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { TP_VERSION } from '../../../src/version.js';
import type { Laptop } from '../helpers/laptop.js';

export const DOCKER_HOST = process.env.TP_E2E_DOCKER_HOST ?? 'unix:///run/podman/podman.sock';
export const TP_IMAGE = process.env.TP_E2E_DOCKER_IMAGE ?? `localhost/tp/tp:${TP_VERSION}`;

/** The engine's CLI, as the test runner. */
export function docker(args: string[], input?: Buffer): string {
  return execFileSync('docker', args, { env: { ...process.env, DOCKER_HOST }, encoding: 'utf8', input, timeout: 120_000 });
}

/** Points a laptop's tp, docker and podman (as a podman user with a service has it: CONTAINER_HOST) at the suite's engine and image. */
export function useEngine(laptop: Laptop): void {
  laptop.env.DOCKER_HOST = DOCKER_HOST;
  laptop.env.CONTAINER_HOST = DOCKER_HOST;
  laptop.env.TP_DOCKER_IMAGE = TP_IMAGE;
}

/** Builds a Go program statically (CGO_ENABLED=0: Go's own resolver, no libc) into `out`. */
export function goBuild(source: string, out: string): void {
  execFileSync('go', ['build', '-o', out, source], { env: { ...process.env, CGO_ENABLED: '0', GO111MODULE: 'off' }, stdio: 'inherit', timeout: 300_000 });
}

/** Copies busybox-static into `root`/bin with these applets. */
export function addBusybox(root: string, applets: string[]): void {
  mkdirSync(join(root, 'bin'), { recursive: true });
  copyFileSync(execFileSync('sh', ['-c', 'command -v busybox'], { encoding: 'utf8' }).trim(), join(root, 'bin', 'busybox'));
  chmodSync(join(root, 'bin', 'busybox'), 0o755);
  for (const applet of applets) symlinkSync('busybox', join(root, 'bin', applet));
}

/** Makes image `ref` from the root filesystem `root`. */
export function importImage(root: string, ref: string): void {
  docker(['import', '-', ref], execFileSync('tar', ['-C', root, '-c', '.'], { maxBuffer: 256 << 20 }));
}
