// Builds the native storage core with node-gyp against the headers of the Node that runs this
// script, so that an install never downloads anything. node-gyp would otherwise fetch a header
// tarball whenever npm's `nodedir` setting is absent.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);

function localHeaders() {
  const candidates = [process.env.npm_config_nodedir, join(dirname(process.execPath), '..')];
  for (const dir of candidates) {
    if (dir && existsSync(join(dir, 'include', 'node', 'node_api.h'))) return dir;
  }
  return undefined;
}

function nodeGypScript() {
  try {
    return require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    // Installed as a dependency without devDependencies: npm ships its own node-gyp.
    const bundled = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm',
      'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
    return process.env.npm_config_node_gyp ?? bundled;
  }
}

const nodedir = localHeaders();
if (!nodedir) {
  console.error('sanmq: cannot find the Node headers (include/node/node_api.h) beside ' +
    `${process.execPath}; install the nodejs headers or set npm_config_nodedir`);
  process.exit(1);
}
const args = [nodeGypScript(), 'rebuild', `--nodedir=${nodedir}`, '--jobs=max'];
const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);
