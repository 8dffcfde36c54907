// Copies non-TypeScript runtime files (Lua scripts, Handlebars email templates, the invoice PDF fonts and
// their license) next to the compiled JavaScript.
const { cpSync, readdirSync, statSync } = require('node:fs');
const { basename, extname, join } = require('node:path');

const ASSET_EXTENSIONS = new Set(['.lua', '.hbs', '.ttf']);

function isAsset(path) {
  return ASSET_EXTENSIONS.has(extname(path)) || (basename(path) === 'LICENSE' && path.includes('fonts'));
}

function copyAssets(dir) {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) copyAssets(path);
    else if (isAsset(path)) cpSync(path, join('dist', path));
  }
}

copyAssets('libs');
