// Where the shims tp run loads live in the installed package: the LD_PRELOAD library and the Node
// preload script. The library is the prebuilt one the package ships for this machine
// (shims/prebuilt/linux-<arch>/, glibc only, with the oldest glibc it loads on beside it), else the
// one built here at install time (shims/build/libtp.so, by shims/build.sh). The same relative path
// works from src/run (tsx) and dist/run (built).
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const PRELOAD_LIBRARY = `${PACKAGE_ROOT}shims/build/libtp.so`;
export const NODE_PRELOAD = `${PACKAGE_ROOT}shims/node/preload.cjs`;
export const SHIM_BUILD_SCRIPT = `${PACKAGE_ROOT}shims/build.sh`;
/** The platforms the package ships a prebuilt library for, by Node's process.arch. */
export const PREBUILT_PLATFORMS: Readonly<Record<string, string>> = { x64: 'linux-x64', arm64: 'linux-arm64' };

export function prebuiltLibrary(platform: string): string {
  return `${PACKAGE_ROOT}shims/prebuilt/${platform}/libtp.so`;
}

export interface LibraryChoice {
  /** The library to preload, when one fits this machine. */
  path?: string;
  /** Why the prebuilt library does not fit, when it does not (whatever path says). */
  prebuiltMissing?: string;
}

export interface Machine {
  platform: string;
  arch: string;
  /** The running glibc's version; undefined on another C library. */
  glibc?: string;
}

let chosen: LibraryChoice | undefined;

/**
 * A native program built or shipped with the library tp run preloads, beside it: `tp-peer-uid`
 * (the front doors' owner lookup, else they read /proc/net) or `tp-relay` (`tp run --netns`).
 * Undefined where there is none.
 */
export function nativeTool(name: 'tp-peer-uid' | 'tp-relay'): string | undefined {
  const library = libraryChoice().path;
  const tool = library?.replace(/libtp\.so$/, name);
  return tool && existsSync(tool) ? tool : undefined;
}

/** The library's path when one fits this machine, undefined otherwise. */
export function preloadLibrary(): string | undefined {
  return libraryChoice().path;
}

/** The library tp run preloads here, and why the prebuilt one does not fit when it does not. */
export function libraryChoice(): LibraryChoice {
  chosen ??= chooseLibrary(thisMachine(), existsSync, (path) => readFileSync(path, 'utf8'));
  return chosen;
}

export function chooseLibrary(machine: Machine, exists: (path: string) => boolean, read: (path: string) => string): LibraryChoice {
  const prebuiltMissing = prebuiltProblem(machine, exists, read);
  const prebuilt = prebuiltMissing ? undefined : prebuiltLibrary(PREBUILT_PLATFORMS[machine.arch]!);
  const path = prebuilt ?? (exists(PRELOAD_LIBRARY) ? PRELOAD_LIBRARY : undefined);
  return prebuiltMissing ? { path, prebuiltMissing } : { path };
}

function prebuiltProblem(machine: Machine, exists: (path: string) => boolean, read: (path: string) => string): string | undefined {
  const platform = PREBUILT_PLATFORMS[machine.arch];
  const shipped = Object.values(PREBUILT_PLATFORMS).join(' and ');
  if (machine.platform !== 'linux' || !platform) return `tp ships prebuilt libraries for ${shipped} (glibc) only, not ${machine.platform}-${machine.arch}`;
  if (!machine.glibc) return `the prebuilt ${platform} library needs glibc, and this machine's C library is another one`;
  const library = prebuiltLibrary(platform);
  const versionFile = library.replace(/libtp\.so$/, 'glibc-version');
  if (!exists(library) || !exists(versionFile)) return `this installation of tp has no prebuilt ${platform} library (shims/prebuilt/${platform}/)`;
  const needed = read(versionFile).trim();
  if (compareVersions(machine.glibc, needed) < 0) return `the prebuilt ${platform} library needs glibc ${needed} or newer, and this machine has ${machine.glibc}`;
  return undefined;
}

function thisMachine(): Machine {
  const header = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
  return { platform: process.platform, arch: process.arch, glibc: header?.glibcVersionRuntime };
}

function compareVersions(a: string, b: string): number {
  const [x, y] = [a.split('.').map(Number), b.split('.').map(Number)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const diff = (x[i] ?? 0) - (y[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return 0;
}

export function nodePreload(): string | undefined {
  return existsSync(NODE_PRELOAD) ? NODE_PRELOAD : undefined;
}
