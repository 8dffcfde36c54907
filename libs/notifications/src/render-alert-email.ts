import { Injectable } from '@nestjs/common';
import Handlebars from 'handlebars';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ALERT_KINDS, AlertKind } from './alert-kinds';
import { alertEmailView } from './alert-email-view';

/** Copied next to the compiled code by scripts/copy-assets.js (dist/libs/notifications/templates). */
export const TEMPLATE_DIR = join(__dirname, '..', 'templates');

export interface RenderableAlert {
  kind: AlertKind;
  details: Record<string, unknown>;
  raised_at: Date;
  account_id: string;
  account_name: string;
}

export interface RenderedEmail {
  subject: string;
  html: string;
  text: string;
}

type Template = (context: unknown) => string;

/** Inline styles by element, so every template looks the same in mail clients that drop <style>. */
const FONT = "-apple-system, BlinkMacSystemFont, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif";
const STYLES: Record<string, string> = {
  h1: `margin:0 0 12px;font-family:${FONT};font-size:22px;line-height:30px;font-weight:700;color:#111827;`,
  p: `margin:0 0 16px;font-family:${FONT};font-size:15px;line-height:23px;color:#374151;`,
  small: `margin:0;font-family:${FONT};font-size:12px;line-height:18px;color:#6b7280;`,
  h2: `margin:0 0 8px;font-family:${FONT};font-size:12px;line-height:16px;font-weight:700;letter-spacing:0.06em;text-transform:uppercase;color:#6b7280;`,
  label: `padding:9px 0;border-bottom:1px solid #f1f5f9;font-family:${FONT};font-size:14px;line-height:20px;color:#6b7280;`,
  value: `padding:9px 0;border-bottom:1px solid #f1f5f9;font-family:${FONT};font-size:14px;line-height:20px;color:#111827;font-weight:600;text-align:right;`,
  big: `margin:0;font-family:${FONT};font-size:32px;line-height:38px;font-weight:700;color:#111827;`,
  box: 'background:#f8fafc;border:1px solid #e2e8f0;border-radius:6px;',
};

/**
 * Renders an alert's email from the template files of its kind: `<kind>.subject.hbs`,
 * `<kind>.html.hbs` (inside `_layout.html.hbs`) and `<kind>.txt.hbs`. Partials are the files
 * starting with `_`. Templates are compiled once, at boot; a missing one stops the worker.
 */
@Injectable()
export class AlertEmailRenderer {
  private readonly handlebars = Handlebars.create();
  private readonly templates = new Map<AlertKind, { subject: Template; html: Template; text: Template }>();

  constructor(dir: string = TEMPLATE_DIR) {
    this.handlebars.registerHelper('s', (name: string) => {
      const style = STYLES[name];
      if (style === undefined) throw new Error(`no email style named ${name}`);
      return style;
    });
    // "1 day", "2 days": counts in emails read as sentences.
    this.handlebars.registerHelper(
      'days',
      (count: string | number) => `${count} ${String(count) === '1' ? 'day' : 'days'}`,
    );
    const read = (file: string) => readFileSync(join(dir, file), 'utf8');
    for (const file of readdirSync(dir).filter((name) => name.startsWith('_'))) {
      const match = /^_([a-z-]+)\.(html|txt)\.hbs$/.exec(file);
      if (!match) continue;
      const [, name, type] = match;
      this.handlebars.registerPartial(
        type === 'html' ? name : `${name}-text`,
        this.handlebars.compile(read(file), { noEscape: type === 'txt', strict: false }),
      );
    }
    for (const kind of ALERT_KINDS) {
      this.templates.set(kind, {
        subject: this.handlebars.compile(read(`${kind}.subject.hbs`), { noEscape: true }),
        html: this.handlebars.compile(read(`${kind}.html.hbs`)),
        text: this.handlebars.compile(read(`${kind}.txt.hbs`), { noEscape: true }),
      });
    }
  }

  render(alert: RenderableAlert): RenderedEmail {
    const templates = this.templates.get(alert.kind);
    if (!templates) throw new Error(`no email templates for alert kind ${alert.kind}`);
    const context = {
      ...alertEmailView(alert.kind, alert.details, alert.raised_at),
      account: { id: alert.account_id, name: alert.account_name },
    };
    // One line: a header cannot carry a line break (nor, from an account name, an injected header).
    const subject = templates.subject(context).replace(/\s+/g, ' ').trim();
    return {
      subject,
      html: templates.html({ ...context, subject }),
      text: `${templates
        .text({ ...context, subject })
        .replace(/\n{3,}/g, '\n\n')
        .trim()}\n`,
    };
  }
}
