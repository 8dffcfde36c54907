/**
 * Renders one email of each alert kind from the sample details, for looking at templates:
 * `node dist/libs/notifications/src/preview-alert-emails.main.js [out dir]` writes
 * <kind>.html, <kind>.txt and <kind>.subject.txt (default .data/email-previews). Open the HTML in
 * a browser, or screenshot it: chromium --headless --screenshot=x.png --window-size=800,1400 file.html
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { ALERT_KINDS } from './alert-kinds';
import { AlertEmailRenderer } from './render-alert-email';
import { SAMPLE_ALERT_DETAILS } from './sample-alert-details';

const out = resolve(process.argv[2] ?? join('.data', 'email-previews'));
mkdirSync(out, { recursive: true });
const renderer = new AlertEmailRenderer();
for (const kind of ALERT_KINDS) {
  const email = renderer.render({
    kind,
    details: SAMPLE_ALERT_DETAILS[kind],
    raised_at: new Date('2026-11-27T09:12:00.000Z'),
    account_id: '0b7e1a52-2f0c-4c1e-9d55-6a1f3b9c2d10',
    account_name: 'Acme AI',
  });
  writeFileSync(join(out, `${kind}.html`), email.html);
  writeFileSync(join(out, `${kind}.txt`), email.text);
  writeFileSync(join(out, `${kind}.subject.txt`), `${email.subject}\n`);
}
console.log(`wrote ${ALERT_KINDS.length} previews to ${out}`);
