/**
 * Compiled fixtures. Starting a child process or worker through tap's TypeScript loader costs
 * seconds (the compiler loads in every process); tests that start fifty processes cannot pay
 * that. So, once per test process, every TypeScript file of src/ and test/ is transpiled
 * (ts.transpileModule: the same JavaScript the loader would produce) into a private
 * directory under node_modules/.cache, laid out like the repository so that relative imports
 * and the addon's lookup of the package root work unchanged, and fixtures run from there.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

import ts from 'typescript';

const here = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CACHE = join('node_modules', '.cache', 'sanmq-fixtures');
// A fixture that starts fixtures runs from a compiled tree already: reuse it.
let built: string | undefined = here.includes(CACHE) ? here : undefined;
const root = here;

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sources(path));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

/** Transpiles src/ and test/ once for this process; returns the output root. */
export function compiledTree(): string {
  if (built !== undefined) return built;
  const out = join(root, CACHE, String(process.pid));
  rmSync(out, { recursive: true, force: true });
  for (const file of [...sources(join(root, 'src')), ...sources(join(root, 'test'))]) {
    const result = ts.transpileModule(readFileSync(file, 'utf8'), {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        verbatimModuleSyntax: false,
        sourceMap: false,
      },
    });
    const target = join(out, relative(root, file)).replace(/\.ts$/, '.js');
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, result.outputText);
  }
  // Node stops looking for package.json at node_modules: say these files are ES modules.
  writeFileSync(join(out, 'package.json'), '{ "type": "module" }\n');
  process.once('exit', () => rmSync(out, { recursive: true, force: true }));
  built = out;
  return out;
}

/** The compiled JavaScript of test/fixtures/<name>. */
export function compiledFixture(name: string): string {
  const path = join(compiledTree(), 'test', 'fixtures', name.replace(/\.ts$/, '.js'));
  if (!existsSync(path)) throw new Error(`no fixture named ${name}`);
  return path;
}
