// Where the shims tp run loads live in the installed package: the LD_PRELOAD library built at
// install time (shims/build/libtp.so, by shims/build.sh) and the Node preload script. The same
// relative path works from src/run (tsx) and dist/run (built).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export const PRELOAD_LIBRARY = `${PACKAGE_ROOT}shims/build/libtp.so`;
export const NODE_PRELOAD = `${PACKAGE_ROOT}shims/node/preload.cjs`;
export const SHIM_BUILD_SCRIPT = `${PACKAGE_ROOT}shims/build.sh`;

/** The library's path when it was built, undefined otherwise. */
export function preloadLibrary(): string | undefined {
  return existsSync(PRELOAD_LIBRARY) ? PRELOAD_LIBRARY : undefined;
}

export function nodePreload(): string | undefined {
  return existsSync(NODE_PRELOAD) ? NODE_PRELOAD : undefined;
}
