/**
 * Renders one email of each alert kind and variant (SAMPLE_ALERT_VARIANTS) from the sample details,
 * for looking at templates: `node dist/libs/notifications/src/preview-alert-emails.main.js [out dir]`
 * writes <name>.html, <name>.txt and <name>.subject.txt (default .data/email-previews). Open the HTML in
 * a browser, or screenshot it: chromium --headless --screenshot=x.png --window-size=800,1400 file.html
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ALERT_KINDS } from './alert-kinds';
import { AlertEmailRenderer } from './render-alert-email';
import { SAMPLE_ALERT_DETAILS, SAMPLE_ALERT_VARIANTS } from './sample-alert-details';

const out = resolve(process.argv[2] ?? join('.data', 'email-previews'));
mkdirSync(out, { recursive: true });
const renderer = new AlertEmailRenderer();
const samples = [
  ...ALERT_KINDS.map((kind) => ({ name: kind, kind, details: SAMPLE_ALERT_DETAILS[kind] })),
  ...Object.entries(SAMPLE_ALERT_VARIANTS).map(([name, variant]) => ({ name, ...variant })),
];
for (const { name, kind, details } of samples) {
  const email = renderer.render({
    kind,
    details,
    raised_at: new Date('2026-11-27T09:12:00.000Z'),
    account_id: '0b7e1a52-2f0c-4c1e-9d55-6a1f3b9c2d10',
    account_name: 'Acme AI',
  });
  writeFileSync(join(out, `${name}.html`), email.html);
  writeFileSync(join(out, `${name}.txt`), email.text);
  writeFileSync(join(out, `${name}.subject.txt`), `${email.subject}\n`);
}
console.log(`wrote ${samples.length} previews to ${out}`);
