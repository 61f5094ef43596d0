// oclif.manifest.json (scripts/oclif-manifest.mjs, written by `npm run build`) lets a command
// start without importing every other command; oclif trusts it whenever it exists, so a stale one
// would hide or misdescribe commands. It must say what scanning dist/commands says.
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Plugin } from '@oclif/core';

const root = fileURLToPath(new URL('../../', import.meta.url));
const manifestFile = fileURLToPath(new URL('../../oclif.manifest.json', import.meta.url));

test('the built manifest lists the commands dist/commands has, with the same flags', async (t) => {
  if (!existsSync(manifestFile)) return void t.fail('oclif.manifest.json is missing: run npm run build (it writes it after tsc)');
  const written = JSON.parse(readFileSync(manifestFile, 'utf8')) as { commands: Record<string, { flags: Record<string, unknown> }> };
  const scanned = new Plugin({ root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true });
  await scanned.load();
  t.deepEqual(Object.keys(written.commands).sort(), Object.keys(scanned.manifest.commands).sort());
  for (const [id, command] of Object.entries(scanned.manifest.commands)) t.deepEqual(Object.keys(written.commands[id]!.flags).sort(), Object.keys(command.flags).sort(), id);
});
