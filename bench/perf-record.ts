// `perf record` of one process for the benches' BENCH_PERF_DIR: started now, stopped (SIGINT, so
// perf writes its file) by stop(). A perf that is missing or already gone (no permission for the
// pid, a pid that ended) is said once and stop() returns at once rather than waiting for an exit
// that already happened.
import { spawn } from 'node:child_process';

export interface PerfRecord {
  stop(): Promise<void>;
}

export function perfRecord(pid: number, output: string, frequency: number): PerfRecord {
  const child = spawn('perf', ['record', '-F', String(frequency), '-g', '-o', output, '-p', String(pid)], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => {
    child.once('error', (error) => {
      console.error(`perf record of pid ${pid} did not start: ${error.message}`);
      resolve();
    });
    child.once('exit', () => resolve());
  });
  return {
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) child.kill('SIGINT');
      await exited;
    },
  };
}
