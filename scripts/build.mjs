// Builds what Node-RED loads into nodes/: one runtime bundle for all nodes (nodes/runtime.js,
// CommonJS) with a thin entry per node (nodes/<type>.js), editor HTML (IIFE + form + help template),
// icons and locales beside the JS. The node list is package.json's "node-red".nodes, nowhere else.
// Type-checks with tsc in parallel unless --no-typecheck.
import { build } from 'esbuild';
import { spawn } from 'node:child_process';
import { cp, mkdir, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const target = path.join(root, 'nodes');
// Built beside nodes/ and swapped in at the end, so a failed build never leaves nodes/ half empty.
const out = path.join(root, `.nodes-build-${process.pid}`);
const nodeFiles = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8'))['node-red'].nodes;
const nodeTypes = Object.keys(nodeFiles);
for (const [type, file] of Object.entries(nodeFiles)) {
  if (file !== `nodes/${type}.js`) throw new Error(`package.json "node-red".nodes: ${type} must be nodes/${type}.js (Node-RED finds its .html, icons and locales beside it)`);
}
const typecheck = !process.argv.includes('--no-typecheck');

function runTsc() {
  return new Promise((resolve, reject) => {
    const tsc = spawn(process.execPath, [path.join(root, 'node_modules/typescript/bin/tsc'), '--noEmit', '-p', 'tsconfig.json'], {
      cwd: root,
      stdio: 'inherit',
    });
    tsc.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`tsc --noEmit failed (exit ${code})`))));
  });
}

// One bundle: every class and module-level state (token providers, shared connections, the temp
// files being written) exists once per process, and the libraries ship once.
async function buildRuntime() {
  const imports = nodeTypes.map((type, i) => `import node${i} from './src/nodes/${type}/runtime';`);
  const table = nodeTypes.map((type, i) => `  ${JSON.stringify(type)}: node${i},`);
  await build({
    stdin: { contents: [...imports, 'export const nodes = {', ...table, '};', ''].join('\n'), resolveDir: root, sourcefile: 'node-types.ts', loader: 'ts' },
    outfile: path.join(out, 'runtime.js'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    packages: 'external',
    sourcemap: false,
    logLevel: 'warning',
  });
  // Node-RED (and its test helper) call module.exports directly: it must be the init function.
  await Promise.all(nodeTypes.map((type) => writeFile(path.join(out, `${type}.js`),
    `// ${type}: its code is in the shared runtime bundle (built by scripts/build.mjs).\nmodule.exports = require('./runtime.js').nodes[${JSON.stringify(type)}];\n`)));
}

// Form rows that several nodes share live once in src/editor/partials/<name>.html; an editor.html
// names them as <!-- partial: name -->, and {{type}} in a partial becomes the node type (its i18n namespace).
async function expandPartials(form, type) {
  const names = [...form.matchAll(/<!-- partial: ([a-z0-9-]+) -->\n?/g)];
  let expanded = form;
  for (const [marker, name] of names) {
    const partial = await readFile(path.join(root, 'src/editor/partials', `${name}.html`), 'utf8');
    expanded = expanded.replace(marker, partial.replaceAll('{{type}}', type));
  }
  if (/<!-- partial:|\{\{type\}\}/.test(expanded)) throw new Error(`${type}/editor.html: a partial marker was not expanded`);
  return expanded;
}

async function buildEditor(type) {
  const dir = path.join(root, 'src/nodes', type);
  const result = await build({
    entryPoints: [path.join(dir, 'editor.ts')],
    bundle: true,
    write: false,
    platform: 'browser',
    format: 'iife',
    target: 'es2020',
    logLevel: 'warning',
  });
  const script = result.outputFiles[0].text;
  const form = await expandPartials(await readFile(path.join(dir, 'editor.html'), 'utf8'), type);
  const html = [
    `<script type="text/javascript">\n${script}</script>`,
    `<script type="text/html" data-template-name="${type}">\n${form}</script>`,
    '',
  ].join('\n');
  await writeFile(path.join(out, `${type}.html`), html);
}

// Each node set has its own i18n namespace, so the strings all nodes share (status texts, error
// kinds) live once in common.json and are merged into every node's catalogue here.
async function buildLocales() {
  const localesDir = path.join(root, 'src/locales');
  for (const lang of await readdir(localesDir)) {
    const src = path.join(localesDir, lang);
    const dest = path.join(out, 'locales', lang);
    await mkdir(dest, { recursive: true });
    const common = JSON.parse(await readFile(path.join(src, 'common.json'), 'utf8'));
    for (const type of nodeTypes) {
      const own = JSON.parse(await readFile(path.join(src, `${type}.json`), 'utf8'));
      await writeFile(path.join(dest, `${type}.json`), JSON.stringify({ ...own, common }, null, 2));
      await cp(path.join(src, `${type}.html`), path.join(dest, `${type}.html`));
    }
  }
}

async function copyAssets() {
  await cp(path.join(root, 'icons'), path.join(out, 'icons'), { recursive: true });
  await buildLocales();
}

const started = Date.now();
await mkdir(out, { recursive: true });
try {
  await Promise.all([
    typecheck ? runTsc() : Promise.resolve(),
    buildRuntime(),
    ...nodeTypes.map(buildEditor),
    copyAssets(),
  ]);
  await rm(target, { recursive: true, force: true });
  await rename(out, target);
} finally {
  await rm(out, { recursive: true, force: true });
}
const files = await readdir(target);
console.log(`build: ${files.length} entries in nodes/ (${Date.now() - started} ms${typecheck ? ', type-checked' : ''})`);
