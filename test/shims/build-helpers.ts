// Builds what the shim tests run: the LD_PRELOAD library (through shims/build.sh, as `npm run
// build` does) and small C test programs, with the machine's cc.
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PRELOAD_LIBRARY, SHIM_BUILD_SCRIPT } from '../../src/run/shim-files.js';

const execFileAsync = promisify(execFile);

export async function buildLibrary(): Promise<string> {
  await execFileAsync('sh', [SHIM_BUILD_SCRIPT]);
  return PRELOAD_LIBRARY;
}

/** Compiles test/shims/fixtures/<name>.c into a temporary directory; returns the binary's path. */
export async function compileFixture(name: string): Promise<string> {
  const out = join(mkdtempSync(join(tmpdir(), 'tp-fixture-')), name);
  await execFileAsync('cc', ['-O1', '-o', out, new URL(`fixtures/${name}.c`, import.meta.url).pathname]);
  return out;
}

export function run(cmd: string, args: string[], env: NodeJS.ProcessEnv, timeout = 15_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout, encoding: 'utf8' }, (error, stdout, stderr) => {
      const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? ((error as { code: number }).code) : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}
