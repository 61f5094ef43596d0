// The commands a user types all day start fast because their modules do not load the heavy
// packages at start-up: @kubernetes/client-node alone takes about 380 ms of CPU to import, and
// Docker mode's code imports it. Such code must be reached through `await import()` where it is
// needed. This follows the static imports that stay in the compiled JavaScript (value imports and
// re-exports; `import type` and type-only names are erased) from each command's file.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import ts from 'typescript';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const HEAVY = ['@kubernetes/client-node'];
const QUICK_COMMANDS = ['version', 'status', 'run', 'list', 'leave'];

/** The module specifiers a file loads when it is imported: value imports and re-exports only. */
function staticImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  const found: string[] = [];
  for (const statement of source.statements) {
    if (ts.isImportDeclaration(statement)) {
      const clause = statement.importClause;
      const bindings = clause?.namedBindings;
      const typeOnly =
        clause !== undefined &&
        (clause.isTypeOnly || (!clause.name && bindings !== undefined && ts.isNamedImports(bindings) && bindings.elements.length > 0 && bindings.elements.every((element) => element.isTypeOnly)));
      if (!typeOnly) found.push((statement.moduleSpecifier as ts.StringLiteral).text);
    } else if (ts.isExportDeclaration(statement) && statement.moduleSpecifier && !statement.isTypeOnly) {
      found.push((statement.moduleSpecifier as ts.StringLiteral).text);
    }
  }
  return found;
}

/** Every package reached from `entry` by static imports, each with the chain of files that reaches it. */
function packagesReached(entry: string): Map<string, string[]> {
  const reached = new Map<string, string[]>();
  const seen = new Set<string>();
  const visit = (file: string, chain: string[]): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const specifier of staticImports(file)) {
      if (specifier.startsWith('.')) visit(path.resolve(path.dirname(file), specifier.replace(/\.js$/, '.ts')), [...chain, path.relative(SRC, file)]);
      else if (!specifier.startsWith('node:') && !reached.has(specifier)) reached.set(specifier, [...chain, path.relative(SRC, file)]);
    }
  };
  visit(path.join(SRC, 'commands', `${entry}.ts`), []);
  return reached;
}

for (const command of QUICK_COMMANDS) {
  test(`tp ${command} loads no heavy package at start-up`, (t) => {
    const reached = packagesReached(command);
    t.true(reached.has('@oclif/core'), 'the walk follows the command\'s imports');
    for (const heavy of HEAVY) t.false(reached.has(heavy), `${heavy} through ${reached.get(heavy)?.join(' -> ')}`);
  });
}

test('the walk finds a heavy package that a command reaches', (t) => {
  t.true(packagesReached('connect').has('@kubernetes/client-node'));
});
