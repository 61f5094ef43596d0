// Writes oclif.manifest.json (run by `npm run build` after tsc): every command's id, flags and
// description, so that `tp <command>` loads only that command's module instead of importing all
// of dist/commands to list them (most of `tp version`'s start time). oclif reads the file from the
// package root whenever it exists, so it must be rebuilt whenever dist/commands changes: a stale
// one hides new commands. The same thing as `oclif manifest`, without that package's dependencies.
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Plugin } from '@oclif/core';

const root = fileURLToPath(new URL('..', import.meta.url));
const plugin = new Plugin({ root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true });
await plugin.load();
writeFileSync(new URL('../oclif.manifest.json', import.meta.url), JSON.stringify(plugin.manifest, null, 2) + '\n');
console.error(`oclif.manifest.json: ${Object.keys(plugin.manifest.commands).length} commands`);
