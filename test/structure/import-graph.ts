// Reads which file of src/ imports which (static imports, `export … from`, `import()` and
// type-only imports alike, through TypeScript's own pre-parser) and checks each import against
// the rules of import-rules.test.ts: a place (a folder of src/, a top-level file, or one file
// named apart) may import only the places its rule lists. A place that no rule names is itself a
// violation, so a new folder cannot slip past the rules.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export interface Import {
  from: string;
  to: string;
}

/** Every relative import between files under `srcDir`, as paths relative to it ("agent/agent.ts"). */
export function importsUnder(srcDir: string): Import[] {
  const imports: Import[] = [];
  for (const file of sourceFiles(srcDir)) {
    const info = ts.preProcessFile(readFileSync(path.join(srcDir, file), 'utf8'), true, true);
    for (const { fileName } of info.importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const target = path.normalize(path.join(path.dirname(file), fileName)).replace(/\.js$/, '.ts');
      imports.push({ from: file, to: target });
    }
  }
  return imports;
}

function sourceFiles(dir: string, prefix = ''): string[] {
  return readdirSync(path.join(dir, prefix)).flatMap((name) => {
    const relative = path.join(prefix, name);
    if (statSync(path.join(dir, relative)).isDirectory()) return sourceFiles(dir, relative);
    return /\.[cm]?ts$/.test(name) ? [relative] : [];
  });
}

/** place → the places it may import (besides itself). Keys: "folder", "file.ts" or "folder/file.ts". */
export type ImportRules = Record<string, readonly string[]>;

/** The place a file belongs to: the longest rule key that is the file or a folder holding it. */
export function placeOf(file: string, rules: ImportRules): string | undefined {
  let best: string | undefined;
  for (const key of Object.keys(rules)) {
    if ((file === key || file.startsWith(`${key}/`)) && (best === undefined || key.length > best.length)) best = key;
  }
  return best;
}

/** One line per import the rules forbid, naming the file, what it imports and the rule. */
export function violations(imports: Import[], rules: ImportRules): string[] {
  const found: string[] = [];
  for (const { from, to } of imports) {
    const fromPlace = placeOf(from, rules);
    const toPlace = placeOf(to, rules);
    if (fromPlace === undefined) found.push(`${from}: no rule says what it may import (add its place to the rules)`);
    else if (toPlace === undefined) found.push(`${from} imports ${to}, which no rule names (add its place to the rules)`);
    else if (toPlace !== fromPlace && !rules[fromPlace].includes(toPlace)) {
      found.push(`${from} imports ${to}: ${fromPlace} may import only ${rules[fromPlace].join(', ') || 'nothing of tp'}`);
    }
  }
  return [...new Set(found)];
}
