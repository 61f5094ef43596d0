import test from 'ava';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { importsUnder, violations, type ImportRules } from './import-graph.js';

// tp is three programs built from one tree (docs/architecture.md): the laptop (CLI, daemon,
// shims), the traffic-manager and the traffic-agent. Each imports only its own folders and the
// shared layers; the shared layers import nothing above them.
const GROUND = ['log', 'errors.ts', 'version.ts'];
const WIRE = ['tunnel', 'net', 'api', ...GROUND];
const LAPTOP = ['cli', 'daemon', 'proxy', 'dns', 'run', 'capture', 'intercept', 'install', 'gather', 'commands', 'docker'];
const LAPTOP_SHARED = [...WIRE, 'k8s', 'inject', 'volumes'];

export const RULES: ImportRules = {
  // Ground: the logger, the error type and the version import nothing of tp, except that the
  // error registry names the tunnel's codes (tunnel/errors.ts, which imports nothing of tp itself).
  log: [],
  'errors.ts': ['tunnel'],
  'version.ts': [],
  // The wire protocol imports nothing of tp but the logger (which imports nothing itself).
  tunnel: ['log'],
  // Socket helpers and the control API sit just above the tunnel.
  net: ['tunnel', 'api', ...GROUND],
  api: ['tunnel', 'net', ...GROUND],
  // Kubernetes client helpers: used by the laptop and the manager.
  k8s: [...WIRE],
  // Putting the agent into workloads: run by the manager, and by `tp manager uninstall` on the laptop.
  inject: [...WIRE, 'k8s'],
  // Volume copies: the sync stream and the file tree, for the agent's end and the laptop's.
  volumes: [...WIRE],
  // The traffic-agent: its own folder, the volume copies' agent end and the wire layers only.
  agent: [...WIRE, 'volumes'],
  // The traffic-manager.
  manager: [...WIRE, 'k8s', 'inject'],
  // The laptop: its folders and the shared ones, never the manager's or the agent's.
  ...Object.fromEntries(LAPTOP.map((place) => [place, [...LAPTOP, ...LAPTOP_SHARED]])),
  // The two commands that start the other programs (one binary, oclif's command tree).
  'commands/manager/serve.ts': ['manager', 'cli', ...LAPTOP_SHARED],
  'commands/agent/serve.ts': ['agent', 'cli', 'volumes', ...WIRE],
};

const srcDir = path.resolve(import.meta.dirname, '../../src');

test('every import in src keeps to the rules of which program may use what', (t) => {
  const imports = importsUnder(srcDir);
  t.deepEqual(violations(imports, RULES), []);
});

test('the import reader sees static, type-only, re-exported and dynamic imports', (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'tp-imports-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(path.join(dir, 'agent'));
  writeFileSync(
    path.join(dir, 'agent/a.ts'),
    [
      "import { x } from '../net/x.js';",
      "import type { Y } from '../api/y.js';",
      "export { z } from '../tunnel/z.js';",
      "const w = await import('../log/w.js');",
      "import { readFileSync } from 'node:fs';",
    ].join('\n'),
  );
  t.deepEqual(
    importsUnder(dir).map((found) => found.to),
    ['net/x.ts', 'api/y.ts', 'tunnel/z.ts', 'log/w.ts'],
  );
});

test('an agent file that imports the daemon, or the tunnel importing net, fails the rules', (t) => {
  const found = violations(
    [
      { from: 'agent/agent.ts', to: 'daemon/daemon.ts' },
      { from: 'tunnel/session.ts', to: 'net/pipe.ts' },
      { from: 'daemon/daemon.ts', to: 'manager/server.ts' },
      { from: 'commands/status.ts', to: 'agent/agent.ts' },
      { from: 'agent/agent.ts', to: 'net/pipe.ts' },
    ],
    RULES,
  );
  t.is(found.length, 4);
  t.regex(found[0], /^agent\/agent\.ts imports daemon\/daemon\.ts: agent may import only tunnel, net, api/);
  t.regex(found[1], /^tunnel\/session\.ts imports net\/pipe\.ts: tunnel may import only log$/);
  t.regex(found[2], /^daemon\/daemon\.ts imports manager\/server\.ts/);
  t.regex(found[3], /^commands\/status\.ts imports agent\/agent\.ts/);
});

test('a folder no rule names is a violation, so new folders get a rule', (t) => {
  const found = violations([{ from: 'newthing/a.ts', to: 'log/logger.ts' }, { from: 'daemon/d.ts', to: 'newthing/a.ts' }], RULES);
  t.deepEqual(found, [
    'newthing/a.ts: no rule says what it may import (add its place to the rules)',
    'daemon/d.ts imports newthing/a.ts, which no rule names (add its place to the rules)',
  ]);
});

test('the manager and agent entry commands may start their program; other commands may not', (t) => {
  t.deepEqual(violations([{ from: 'commands/manager/serve.ts', to: 'manager/server.ts' }, { from: 'commands/agent/serve.ts', to: 'agent/agent.ts' }], RULES), []);
  t.is(violations([{ from: 'commands/manager/install.ts', to: 'manager/server.ts' }], RULES).length, 1);
});
