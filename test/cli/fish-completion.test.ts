import test from 'ava';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { fishCompletion } from '../../src/cli/fish-completion.js';

// `tp autocomplete fish` prints a script that fish itself completes with: asked through
// `complete -C` (what fish runs on <TAB>) after sourcing it.
const tpBin = fileURLToPath(new URL('../../bin/run.js', import.meta.url));
const run = promisify(execFile);

async function completions(script: string, lines: string[]): Promise<Record<string, string[]>> {
  const dir = mkdtempSync(path.join(tmpdir(), 'tp-fish-'));
  try {
    const file = path.join(dir, 'tp.fish');
    writeFileSync(file, script);
    const commands = lines.map((line) => `echo "==${line}"; complete -C '${line}'`).join('; ');
    const { stdout } = await run('fish', ['--no-config', '-c', `source ${file}; ${commands}`], { env: { ...process.env, HOME: dir } });
    const result: Record<string, string[]> = {};
    let current = '';
    for (const line of stdout.split('\n')) {
      if (line.startsWith('==')) result[(current = line.slice(2))] = [];
      else if (line) result[current].push(line.split('\t')[0]);
    }
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the script tp autocomplete fish prints completes commands, topic commands and flags in fish', async (t) => {
  const { stdout } = await run('node', [tpBin, 'autocomplete', 'fish']);
  const got = await completions(stdout, ['tp con', 'tp manager ins', 'tp connect --names', 'tp gather', 'tp connect -']);
  t.deepEqual(got['tp con'], ['config', 'connect']);
  t.deepEqual(got['tp manager ins'], ['install']);
  t.deepEqual(got['tp connect --names'], ['--namespace']);
  t.deepEqual(got['tp gather'], ['gather-logs']);
  t.true(got['tp connect -'].includes('-n'), got['tp connect -'].join(' '));
});

test('hidden commands and flags stay out, and quotes in summaries cannot break the script', async (t) => {
  const script = fishCompletion([
    { id: 'shown', summary: "it's \\ fine", flags: { level: { type: 'option', summary: "a 'quoted' flag" }, secret: { type: 'boolean', hidden: true } } },
    { id: 'daemon:run', hidden: true, flags: {} },
  ]);
  const got = await completions(script, ['tp s', 'tp d', 'tp shown --']);
  t.deepEqual(got['tp s'], ['shown']);
  t.deepEqual(got['tp d'], []);
  t.deepEqual(got['tp shown --'], ['--level']);
});
