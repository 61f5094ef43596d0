// Helpers for the node part's tests: run a command in a netns, start a socat server there and
// wait until it accepts, and list everything on the host carrying a prefix (for leak checks).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { NFT, run } from '../command.js';

export function inNetns(netns: string, argv: string[], input?: string): Promise<string> {
  return run(['ip', 'netns', 'exec', netns, ...argv], { input, timeoutMs: 10_000 });
}

/** Starts `socat <listen> <reply>` in netns; resolves once `probe` (run in the same netns) succeeds. */
export async function startSocat(netns: string, listen: string, reply: string): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', netns, 'socat', listen, reply], { stdio: 'ignore' });
  const port = /:(\d+)/.exec(listen)![1];
  const proto = listen.startsWith('UDP') ? 'u' : 't';
  for (let i = 0; i < 100; i++) {
    const out = await inNetns(netns, ['ss', '-Hln' + proto, `sport = :${port}`]);
    if (out.trim()) return child;
    await new Promise((r) => setTimeout(r, 20));
  }
  child.kill('SIGKILL');
  throw new Error(`socat did not start listening on ${listen}`);
}

/** Every host-visible name containing the prefix: netns, links, nft tables, /etc/netns, /run/netns. */
export async function traces(prefix: string): Promise<string[]> {
  const found: string[] = [];
  for (const line of (await run(['ip', 'netns', 'list'])).split('\n')) if (line.startsWith(`${prefix}-`)) found.push(`netns ${line}`);
  for (const line of (await run(['ip', '-o', 'link'])).split('\n')) if (line.includes(` ${prefix}`)) found.push(`link ${line}`);
  for (const line of (await run([NFT, 'list', 'tables'])).split('\n')) if (line.includes(prefix)) found.push(line);
  for (const dir of ['/etc/netns', '/run/netns']) {
    if (existsSync(dir)) for (const name of readdirSync(dir)) if (name.startsWith(`${prefix}-`)) found.push(`${dir}/${name}`);
  }
  return found;
}

export async function otherNodeNetnsExists(prefix: string): Promise<boolean> {
  return (await run(['ip', 'netns', 'list'])).split('\n').some((l) => /-node( |$)/.test(l) && !l.startsWith(`${prefix}-`));
}

export async function hostUnreachableRoute(): Promise<boolean> {
  return (await run(['ip', 'route', 'show', 'type', 'unreachable'])).includes('198.18.0.0/15');
}
