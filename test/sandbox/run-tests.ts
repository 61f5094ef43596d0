// `npm run test:sandbox`: the end-to-end run against the sandbox (root). Cleans stale state (down),
// brings the sandbox up, runs ava on the sandbox's own tests (test/sandbox/e2e) and then on tp's
// end-to-end tests (test/e2e, recursively, in parallel lanes: test/e2e/lanes.ts; tp itself runs
// there as the unprivileged test user),
// always brings the sandbox down again, then runs test/sandbox/e2e-teardown/*.test.ts to prove
// nothing was left behind. The default ava run excludes all of these. Exits non-zero if any step
// failed.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { runE2eFiles } from '../e2e/lanes.js';
import { requireRoot, sandboxDown, sandboxUp } from './lifecycle.js';
import { CHECKOUT, readStatus, sandboxPaths } from './state.js';

function testFiles(dir: string): string[] {
  const abs = path.join(CHECKOUT, dir);
  return (readdirSync(abs, { recursive: true }) as string[]).filter((name) => name.endsWith('.test.ts')).sort().map((name) => path.join(dir, name));
}

/**
 * What tp's end-to-end tests take from the environment (test/e2e/README.md): the cluster (the
 * sandbox's kubeconfig) and the hooks for faults they cannot cause through the Kubernetes API
 * (each a shell command; a run against a real cluster sets its own): restarting the API server.
 * Images keep their defaults, the sandbox's.
 */
function e2eEnv(kubeconfig: string): NodeJS.ProcessEnv {
  const sandboxCli = `${JSON.stringify(process.execPath)} --import tsx ${JSON.stringify(path.join(CHECKOUT, 'test/sandbox/cli.ts'))}`;
  return {
    TP_E2E_KUBECONFIG: kubeconfig,
    TP_E2E_CONTEXT: '',
    TP_E2E_RESTART_APISERVER: process.env.TP_E2E_RESTART_APISERVER || `${sandboxCli} restart apiserver`,
  };
}

function ava(files: string[], env: NodeJS.ProcessEnv = {}): Promise<number> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [path.join(CHECKOUT, 'node_modules/ava/entrypoints/cli.mjs'), '--serial', ...files], {
      cwd: CHECKOUT,
      env: { ...process.env, ...env },
      stdio: 'inherit',
    });
    child.on('error', () => resolve(1));
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

async function main(): Promise<number> {
  requireRoot('test:sandbox');
  const paths = sandboxPaths();
  let failed = false;
  try {
    const stale = await sandboxDown(paths);
    if (stale.removed.length > 0) console.log(`cleaned stale sandbox state: ${stale.removed.join(', ')}`);
    const up = await sandboxUp(paths);
    const status = readStatus(paths);
    console.log(`sandbox up in ${(up.readyMs / 1000).toFixed(1)} s (main process ready after ${status?.startupMs ?? '?'} ms)`);
    const started = Date.now();
    if ((await ava(testFiles('test/sandbox/e2e'))) !== 0) failed = true;
    console.log(`sandbox e2e tests took ${((Date.now() - started) / 1000).toFixed(1)} s`);
    const tpStarted = Date.now();
    if ((await runE2eFiles(testFiles('test/e2e'), e2eEnv(paths.kubeconfig))) !== 0) failed = true;
    console.log(`tp e2e tests took ${((Date.now() - tpStarted) / 1000).toFixed(1)} s`);
  } catch (error) {
    console.error(`sandbox run failed: ${(error as Error).message}`);
    failed = true;
  } finally {
    try {
      const down = await sandboxDown(paths);
      console.log(`sandbox down: removed ${down.removed.join(', ') || 'nothing'}`);
    } catch (error) {
      console.error(`sandbox down failed: ${(error as Error).message}`);
      failed = true;
    }
  }
  if ((await ava(testFiles('test/sandbox/e2e-teardown'))) !== 0) failed = true;
  return failed ? 1 : 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`error: ${(error as Error).message}`);
    process.exitCode = 1;
  },
);
