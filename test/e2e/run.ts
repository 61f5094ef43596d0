// `npm run test:e2e -- --kubeconfig FILE [--context NAME] [test files…]`: tp's end-to-end suite
// against any cluster (test/e2e/README.md says what the cluster needs). Sets TP_E2E_KUBECONFIG and
// TP_E2E_CONTEXT, checks that the API answers, says which images the fixtures will run, and runs
// the given files (default: every test/e2e/**/*.test.ts) in parallel lanes (lanes.ts). Exits
// non-zero when a file failed.
// The sandbox's run (npm run test:sandbox) does the same through test/sandbox/run-tests.ts.
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { IMAGE_VARIABLES, image, type ImageName } from './helpers/images.js';
import { runE2eFiles } from './lanes.js';

const CHECKOUT = fileURLToPath(new URL('../../', import.meta.url));
const USAGE = 'usage: npm run test:e2e -- --kubeconfig FILE [--context NAME] [test/e2e/<file>.test.ts …]';

interface Options {
  kubeconfig: string;
  context?: string;
  files: string[];
}

function parseArgs(args: string[]): Options {
  let kubeconfig = process.env.TP_E2E_KUBECONFIG;
  let context = process.env.TP_E2E_CONTEXT || undefined;
  const files: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const next = inline ?? args[++i];
      if (!next) throw new Error(`${flag} needs a value\n${USAGE}`);
      return next;
    };
    if (flag === '--kubeconfig') kubeconfig = path.resolve(value());
    else if (flag === '--context') context = value();
    else if (flag === '--help' || flag === '-h') throw new Error(USAGE);
    else if (arg.startsWith('-')) throw new Error(`unknown option ${arg}\n${USAGE}`);
    else files.push(arg);
  }
  if (!kubeconfig) throw new Error(`which cluster? Give --kubeconfig FILE (or set TP_E2E_KUBECONFIG)\n${USAGE}`);
  return { kubeconfig, context, files };
}

function allTestFiles(): string[] {
  const dir = path.join(CHECKOUT, 'test/e2e');
  return (readdirSync(dir, { recursive: true }) as string[]).filter((name) => name.endsWith('.test.ts')).sort().map((name) => path.join('test/e2e', name));
}

async function main(): Promise<number> {
  const options = parseArgs(process.argv.slice(2));
  const kubectl = ['--kubeconfig', options.kubeconfig, ...(options.context ? ['--context', options.context] : [])];
  try {
    await promisify(execFile)('kubectl', [...kubectl, 'get', '--raw', '/version'], { timeout: 30_000 });
  } catch (error) {
    throw new Error(`the cluster does not answer through ${options.kubeconfig}${options.context ? ` (context ${options.context})` : ''}: ${(error as { stderr?: string }).stderr?.trim() || (error as Error).message}`);
  }
  for (const name of Object.keys(IMAGE_VARIABLES) as ImageName[]) console.log(`image ${name}: ${image(name)} (${IMAGE_VARIABLES[name][0]})`);
  if (!process.env.TP_E2E_RESTART_APISERVER) console.log('TP_E2E_RESTART_APISERVER is not set: the API server restart test will be skipped');
  const env = { ...process.env, TP_E2E_KUBECONFIG: options.kubeconfig, TP_E2E_CONTEXT: options.context ?? '' };
  const files = options.files.length > 0 ? options.files : allTestFiles();
  return runE2eFiles(files, env);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(`error: ${(error as Error).message}`);
    process.exitCode = 2;
  },
);
