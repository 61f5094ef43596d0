// kubectl with a given kubeconfig: its stdout, or an error carrying kubectl's stderr. Shared by the
// sandbox's end-to-end client and tp's e2e suite (each passes its own kubeconfig).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

export async function kubectlWith(kubeconfig: string, args: string[], options: { timeoutMs?: number; input?: string } = {}): Promise<string> {
  const child = execFileAsync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', timeout: options.timeoutMs ?? 60_000, maxBuffer: 64 << 20 });
  // kubectl may exit before it reads its input (most commands never do): the write's EPIPE says
  // nothing kubectl's exit code does not, and unhandled it would end the test process.
  child.child.stdin?.on('error', () => undefined);
  child.child.stdin?.end(options.input ?? '');
  try {
    return (await child).stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(' ')} failed: ${e.stderr?.trim() || e.message}`, { cause: error });
  }
}
