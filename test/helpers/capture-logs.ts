// Captures what tp logs during one test: every line at debug level, into an array the test reads.
// The previous sink and level come back when the test ends.
import type { ExecutionContext } from 'ava';
import { currentLogLevel, setLogLevel, setLogSink } from '../../src/log/logger.js';

export function captureLogs(t: ExecutionContext): string[] {
  const lines: string[] = [];
  const level = currentLogLevel();
  setLogLevel('debug');
  const previous = setLogSink((line) => void lines.push(line));
  t.teardown(() => {
    setLogSink(previous);
    setLogLevel(level);
  });
  return lines;
}
