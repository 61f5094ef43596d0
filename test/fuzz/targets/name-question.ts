// Fuzz target: the question line a `tp run` shim sends to the daemon's name query socket
// (parseNameQuestion in src/run/daemon/name-query.ts), read as latin1 as the server reads it, and the
// answer line sent back. Contract: the parse returns undefined or a name of 1-253 characters,
// no control character or space among them, with family 0, 4 or 6, and never throws; an error
// answer is always exactly one line.
import { formatNameAnswer, parseNameQuestion } from '../../../src/run/daemon/name-query.js';
import { check } from '../contract.js';

/** The files this target is about (run.ts reports their coverage). */
export const covers = ['src/run/daemon/name-query.ts'];

export function fuzz(data: Buffer): void {
  const line = data.toString('latin1');
  const question = parseNameQuestion(line);
  if (question) {
    // eslint-disable-next-line no-control-regex
    check(/^[^\x00-\x20\x7f]{1,253}$/.test(question.name), `name ${JSON.stringify(question.name)}`);
    check(question.family === 0 || question.family === 4 || question.family === 6, `family ${question.family}`);
  }
  // An error's text may come from the cluster side; it must not start a second answer line.
  const answer = formatNameAnswer({ kind: 'error', message: line });
  check(answer.endsWith('\n') && answer.indexOf('\n') === answer.length - 1, `answer ${JSON.stringify(answer)}`);
}
