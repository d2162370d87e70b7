// Builds the dashboard into dist/web: tsc has compiled src/web/*.ts; this moves them in, copies the static files and the
// vendored UI libraries (preact, htm), and points bare imports at those local copies, so the page needs no
// CDN, no import map (which a strict Content-Security-Policy would block) and no bundler.
import { copyFileSync, cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const out = join(root, 'dist/web');
const vendor = join(out, 'vendor');
// tsc compiled src/web (and the shared API types, which compile to nothing the page needs) into dist/web-build.
rmSync(out, { recursive: true, force: true });
cpSync(join(root, 'dist/web-build/web'), out, { recursive: true });
rmSync(join(root, 'dist/web-build'), { recursive: true, force: true });
mkdirSync(vendor, { recursive: true });

for (const f of ['index.html', 'styles.css']) copyFileSync(join(root, 'src/web', f), join(out, f));

const VENDOR = {
  preact: ['node_modules/preact/dist/preact.module.js', 'preact.js'],
  'preact/hooks': ['node_modules/preact/hooks/dist/hooks.module.js', 'hooks.js'],
  htm: ['node_modules/htm/dist/htm.module.js', 'htm.js'],
};
const rewrite = (code, fromDir) =>
  code.replace(/(from\s*|import\s*)(["'])(preact\/hooks|preact|htm)\2/g, (_m, kw, q, spec) => {
    let rel = relative(fromDir, join(vendor, VENDOR[spec][1])).replaceAll('\\', '/');
    if (!rel.startsWith('.')) rel = `./${rel}`;
    return `${kw}${q}${rel}${q}`;
  });

for (const [src, name] of Object.values(VENDOR)) {
  writeFileSync(join(vendor, name), rewrite(readFileSync(join(root, src), 'utf8'), vendor));
}
const walk = (dir) => readdirSync(dir).flatMap((f) => (statSync(join(dir, f)).isDirectory() ? (f === 'vendor' ? [] : walk(join(dir, f))) : [join(dir, f)]));
for (const file of walk(out).filter((f) => f.endsWith('.js'))) writeFileSync(file, rewrite(readFileSync(file, 'utf8'), dirname(file)));

// The last step of `npm run build`: a stamp that `npm start` compares its sources with (scripts/start.mjs), so
// `npm install && npm start` builds once (install's `prepare`), not twice.
writeFileSync(join(root, 'dist/.built'), `${new Date().toISOString()}\n`);
