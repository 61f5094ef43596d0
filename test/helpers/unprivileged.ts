// Runs commands as an unprivileged user when the tests themselves run as root, so that every
// laptop-side step of tp is proven to work without root. The user (default `tpuser`, override with
// TP_TEST_USER) is created by .ci/run; when the tests already run unprivileged, commands run as is.
import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export const TEST_USER = process.env.TP_TEST_USER ?? 'tpuser';
export const RUNNING_AS_ROOT = process.getuid?.() === 0;

/** The argv that runs `cmd args…` as the test user (through runuser) when we are root. */
export function asUser(cmd: string, args: string[]): [string, string[]] {
  if (!RUNNING_AS_ROOT) return [cmd, args];
  return ['runuser', ['-u', TEST_USER, '--', cmd, ...args]];
}

export async function execAsUser(
  cmd: string,
  args: string[],
  options: { env?: NodeJS.ProcessEnv; cwd?: string; timeout?: number } = {},
): Promise<{ stdout: string; stderr: string }> {
  const [file, argv] = asUser(cmd, args);
  return execFileAsync(file, argv, { encoding: 'utf8', timeout: options.timeout ?? 60_000, env: options.env, cwd: options.cwd });
}

export function spawnAsUser(cmd: string, args: string[], options: SpawnOptions = {}): ChildProcess {
  const [file, argv] = asUser(cmd, args);
  return spawn(file, argv, options);
}
