import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * pdf-parse (pdfjs) loads its worker with a dynamic import, which Jest's VM refuses; a plain
 * Node child process extracts the text instead, as a user's PDF reader would see it.
 */
const EXTRACT = `
const { PDFParse } = require('pdf-parse');
const { readFileSync } = require('node:fs');
(async () => {
  const parser = new PDFParse({ data: new Uint8Array(readFileSync(process.argv[1])) });
  const result = await parser.getText();
  await parser.destroy();
  process.stdout.write(JSON.stringify({ text: result.text, pages: result.total }));
})().catch((error) => { console.error(error); process.exit(1); });
`;

export async function pdfText(pdf: Buffer): Promise<{ text: string; pages: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'pdf-text-'));
  try {
    const file = join(dir, 'doc.pdf');
    await writeFile(file, pdf);
    const { stdout } = await run(process.execPath, ['-e', EXTRACT, file], {
      cwd: join(__dirname, '..', '..'),
      maxBuffer: 32 * 1024 * 1024,
    });
    return JSON.parse(stdout) as { text: string; pages: number };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
