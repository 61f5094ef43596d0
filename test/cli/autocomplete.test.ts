import test from 'ava';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

// Completion through oclif's autocomplete plugin: `tp autocomplete bash` builds the scripts, and
// the line `tp autocomplete script bash` prints (what a user appends to ~/.bashrc), sourced in a
// non-interactive bash with the bash-completion package, completes commands, subcommands and flags.
const tpBin = fileURLToPath(new URL('../../bin/run.js', import.meta.url));
const BASH_COMPLETION = '/usr/share/bash-completion/bash_completion';
const run = promisify(execFile);

/** Each line's candidates from tp's completion function, as bash would fill COMPREPLY on <TAB>. */
const COMPLETE = `
source ${BASH_COMPLETION}
eval "$(node "$TP_BIN" autocomplete script bash)"
complete -p tp
for line in "$@"; do
  COMP_LINE="$line"; COMP_POINT=\${#line}
  read -ra COMP_WORDS <<< "$line"
  COMP_CWORD=$((\${#COMP_WORDS[@]} - 1))
  COMPREPLY=()
  _tp_autocomplete tp
  echo "$line|\${COMPREPLY[*]}"
done`;

test('the bash script from tp autocomplete completes tp con<TAB> to connect or config, and more', async (t) => {
  t.true(existsSync(BASH_COMPLETION), 'the bash-completion package (scripts/setup-machine) is installed');
  const home = mkdtempSync(path.join(tmpdir(), 'tp-complete-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const env = { ...process.env, HOME: home, XDG_CACHE_HOME: path.join(home, 'cache'), TP_BIN: tpBin };
  const setup = await run('node', [tpBin, 'autocomplete', 'bash'], { env });
  t.regex(setup.stdout, /tp autocomplete script bash/);
  const { stdout } = await run('bash', ['-c', COMPLETE, 'complete', 'tp conn', 'tp con', 'tp manager ins', 'tp connect --names', 'tp gather'], { env });
  const [registered, ...lines] = stdout.trim().split('\n');
  t.is(registered, 'complete -F _tp_autocomplete tp');
  const replies = Object.fromEntries(lines.map((line) => line.split('|')).map(([typed, reply]) => [typed, [...new Set(reply.split(' ').filter(Boolean))].sort()]));
  t.deepEqual(replies['tp conn'], ['connect']);
  t.deepEqual(replies['tp con'], ['config', 'connect']);
  t.deepEqual(replies['tp manager ins'], ['install']);
  t.deepEqual(replies['tp connect --names'], ['--namespace']);
  t.deepEqual(replies['tp gather'], ['gather-logs']);
});

test('tp autocomplete offers zsh and powershell too (fish: its own command, fish-completion.test.ts)', async (t) => {
  const home = mkdtempSync(path.join(tmpdir(), 'tp-complete-'));
  t.teardown(() => rmSync(home, { recursive: true, force: true }));
  const env = { ...process.env, HOME: home, XDG_CACHE_HOME: path.join(home, 'cache') };
  t.regex((await run('node', [tpBin, 'autocomplete', 'script', 'zsh'], { env })).stdout, /zsh_setup/);
  t.regex((await run('node', [tpBin, 'autocomplete', 'script', 'powershell'], { env })).stdout, /autocomplete\/functions\/powershell\/tp\.ps1/);
});
