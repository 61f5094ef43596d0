// The benchmarks' helper processes (tunnel-server, tunnel-forwarder, tunnel-target, tunnel-load…)
// say where they listen, or what they measured, as one JSON line on stdout: this waits for it.
import type { ChildProcess } from 'node:child_process';

/** The first line `child` prints, parsed as JSON; rejects if it exits first. */
export function firstJsonLine<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const newline = text.indexOf('\n');
      if (newline >= 0) resolve(JSON.parse(text.slice(0, newline)) as T);
    });
    child.once('exit', (code) => reject(new Error(`${child.spawnargs.join(' ')} exited with ${code}`)));
  });
}
