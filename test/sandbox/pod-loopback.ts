// The API server's port-forward hook, done as a real node does it: the kubelet's container
// runtime enters the pod's network namespace and connects to 127.0.0.1:<port> there, so a
// port-forward reaches listeners bound to the pod's loopback (which no other pod can reach).
// The pod is found by its IP in the node network's IPAM file; `socat` inside the pod's netns
// (entered with nsenter) carries the bytes, and its "starting data transfer loop" notice says the
// connection is up. A failed connect rejects with the errno code socat reports.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { podNetnsName } from './node/names.js';

const CONNECTED = 'starting data transfer loop';
/** containerd's port-forward (pkg/cri/server/sandbox_portforward_linux.go) copies each direction with io.Copy's 32 KiB buffer. */
const COPY_BLOCK_BYTES = 32 * 1024;

export function podNetnsByIp(stateDir: string, prefix: string, ip: string): string | undefined {
  try {
    const ipam = JSON.parse(readFileSync(join(stateDir, `ipam-${prefix}.json`), 'utf8')) as { owners?: Record<string, string> };
    const uid = ipam.owners?.[ip];
    return uid ? podNetnsName(prefix, uid) : undefined;
  } catch {
    return undefined;
  }
}

/** A byte stream to 127.0.0.1:port inside the given netns; rejects like a failed TCP connect. */
export function dialPodLoopback(netns: string, port: number): Promise<Duplex> {
  return new Promise((resolve, reject) => {
    // -b: socat moves 8 KiB per read by default; a real runtime copies with Go's io.Copy (32 KiB).
    const child = spawn('nsenter', [`--net=/run/netns/${netns}`, 'socat', '-d', '-d', '-b', String(COPY_BLOCK_BYTES), 'STDIO', `TCP4:127.0.0.1:${port},nodelay`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    let connected = false;
    const stream = Duplex.from({ readable: child.stdout, writable: child.stdin });
    stream.on('close', () => child.kill());
    child.stderr.on('data', (chunk: Buffer) => {
      if (connected) return;
      stderr += chunk.toString();
      if (stderr.includes(CONNECTED)) {
        connected = true;
        resolve(stream);
      }
    });
    child.once('exit', (code) => {
      if (connected) return;
      const refused = /Connection refused/i.test(stderr);
      const reason = stderr.trim().split('\n').filter((l) => / E /.test(l)).pop() ?? `socat exited with ${code}`;
      reject(Object.assign(new Error(`connect 127.0.0.1:${port} in ${netns}: ${refused ? 'connection refused' : reason}`), { code: refused ? 'ECONNREFUSED' : 'EIO' }));
    });
    child.once('error', reject);
  });
}
