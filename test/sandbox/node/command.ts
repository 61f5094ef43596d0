// Runs the system tools the node part drives (`ip`, `nft`, `mount`…) and turns a failure into a
// NodeCommandError carrying the command and its stderr. Leaves out shells: argv only, so no value
// is ever interpreted. Used by network.ts, stale-cleanup.ts and the kubelet.
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

const SYSTEM_DIRS = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/**
 * The absolute path of a system tool. npm puts node_modules/.bin first on PATH, and a package
 * there is called `nft` (@vercel/nft), so tools are never looked up through PATH.
 */
export function systemTool(name: string): string {
  return SYSTEM_DIRS.map((dir) => `${dir}/${name}`).find((path) => existsSync(path)) ?? name;
}

export const NFT = systemTool('nft');

export class NodeCommandError extends Error {
  readonly code = 'SANDBOX_NODE_COMMAND';
  constructor(readonly argv: string[], readonly stderr: string, cause?: unknown) {
    super(`${argv.join(' ')} failed: ${stderr.trim() || String(cause)}`, { cause });
    this.name = 'NodeCommandError';
  }
}

/** Runs argv; resolves stdout, rejects with NodeCommandError. `input` is written to stdin. */
export function run(argv: string[], options: { input?: string; timeoutMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const file = argv[0].includes('/') ? argv[0] : systemTool(argv[0]);
    const child = execFile(file, argv.slice(1), { encoding: 'utf8', timeout: options.timeoutMs ?? 15_000, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => {
        if (error) reject(new NodeCommandError(argv, stderr, error));
        else resolve(stdout);
      });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** Like run() but a failure is ignored (used for best-effort teardown); resolves whether it worked. */
export async function tryRun(argv: string[]): Promise<boolean> {
  try {
    await run(argv);
    return true;
  } catch {
    return false;
  }
}
