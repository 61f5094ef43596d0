// What share of each parser a fuzz run reached. jsfuzz's worker leaves istanbul's counters for
// the bundle in <workDir>/.nyc_output/cov.json when it stops; the bundle's source map takes each
// statement and branch back to the src/ file it came from. Used by run.ts for its report.
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { relative, resolve } from 'node:path';

interface Location {
  start: { line?: number; column?: number };
}

interface FileCoverage {
  statementMap: Record<string, Location>;
  branchMap: Record<string, { loc: Location; locations: Location[] }>;
  s: Record<string, number>;
  b: Record<string, number[]>;
}

export interface SourceCoverage {
  file: string;
  statements: { hit: number; total: number };
  branches: { hit: number; total: number };
}

/** Per src/ file reached by the bundle: statements and branch arms hit at least once. */
export function sourceCoverage(workDir: string, bundle: string, repoRoot: string): SourceCoverage[] {
  const counters = resolve(workDir, '.nyc_output', 'cov.json');
  if (!existsSync(counters)) return [];
  const coverage = (JSON.parse(readFileSync(counters, 'utf8')) as Record<string, FileCoverage>)[bundle];
  if (!coverage) return [];
  const map = new SourceMap(JSON.parse(readFileSync(`${bundle}.map`, 'utf8')));
  const files = new Map<string, SourceCoverage>();
  const tally = (location: Location, hit: boolean, kind: 'statements' | 'branches'): void => {
    if (location.start.line === undefined) return;
    const entry = map.findEntry(location.start.line - 1, location.start.column ?? 0);
    if (!('originalSource' in entry) || !entry.originalSource) return;
    const file = relative(repoRoot, resolve(workDir, entry.originalSource.replace(/^file:\/\//, '')));
    if (!file.startsWith('src/')) return;
    let counts = files.get(file);
    if (!counts) files.set(file, (counts = { file, statements: { hit: 0, total: 0 }, branches: { hit: 0, total: 0 } }));
    counts[kind].total += 1;
    if (hit) counts[kind].hit += 1;
  };
  for (const [id, location] of Object.entries(coverage.statementMap)) tally(location, coverage.s[id] > 0, 'statements');
  for (const [id, branch] of Object.entries(coverage.branchMap)) {
    // An arm with no place of its own (the missing else of an if) counts at its branch.
    branch.locations.forEach((location, arm) => tally(location.start.line === undefined ? branch.loc : location, coverage.b[id][arm] > 0, 'branches'));
  }
  return [...files.values()].sort((a, b) => a.file.localeCompare(b.file));
}

export function formatCoverage(entry: SourceCoverage): string {
  const percent = ({ hit, total }: { hit: number; total: number }): string => (total === 0 ? '-' : `${Math.round((100 * hit) / total)}% (${hit}/${total})`);
  return `${entry.file}: statements ${percent(entry.statements)}, branches ${percent(entry.branches)}`;
}
