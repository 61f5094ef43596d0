import test from 'ava';
import { fileURLToPath } from 'node:url';
import { execAsUser } from '../helpers/unprivileged.js';

const tpBin = fileURLToPath(new URL('../../bin/run.js', import.meta.url));

test('tp version prints the client and node versions as text, run by an unprivileged user', async (t) => {
  const { stdout } = await execAsUser('node', [tpBin, 'version']);
  t.regex(stdout, /^tp \d+\.\d+\.\d+ \(node v\d+\.\d+\.\d+, linux\/\w+\)/);
});

test('tp version --output json prints one JSON object with the documented fields', async (t) => {
  const { stdout } = await execAsUser('node', [tpBin, 'version', '--output', 'json']);
  const result = JSON.parse(stdout) as Record<string, string>;
  t.deepEqual(Object.keys(result).sort(), ['client', 'node', 'platform']);
  t.is(result.node, process.version);
});

test('an unknown flag fails with a non-zero exit and names the flag', async (t) => {
  const error = await t.throwsAsync(execAsUser('node', [tpBin, 'version', '--bogus']));
  t.regex(String((error as { stderr?: string }).stderr), /Nonexistent flag: --bogus/);
});
