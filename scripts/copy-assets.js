// Copies non-TypeScript runtime files (Lua scripts, Handlebars email templates) next to the compiled JavaScript.
const { cpSync, readdirSync, statSync } = require('node:fs');
const { join } = require('node:path');

function copyLua(dir) {
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) copyLua(path);
    else if (entry.endsWith('.lua') || entry.endsWith('.hbs')) cpSync(path, join('dist', path));
  }
}

copyLua('libs');
