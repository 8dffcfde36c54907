import { Inject, Injectable, Logger, OnApplicationShutdown } from '@nestjs/common';
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import nodemailer, { Transporter } from 'nodemailer';
import { describeSmtp, MAIL_OPTIONS, MailOptions } from './mail-options';

export interface OutgoingEmail {
  to: string;
  subject: string;
  html: string;
  text: string;
  /** `<id@domain>`: stable per delivery row, so any resend of that row carries the same one. */
  messageId: string;
  headers?: Record<string, string>;
}

export interface SentEmail {
  /** The Message-ID header sent. */
  messageId: string;
  /** The server's final reply (`250 …`), or where the outbox file went. */
  response: string;
}

/** An SMTP reply that will not change on retry (5xx: bad recipient, message refused). */
export function isPermanentSmtpFailure(error: unknown): boolean {
  const code = (error as { responseCode?: unknown })?.responseCode;
  return typeof code === 'number' && code >= 500 && code < 600;
}

/**
 * Sends one email over SMTP (nodemailer, one connection per message so a restarted server is
 * picked up at once), or, without SMTP settings, writes it as `<outbox>/<delivery id>.eml` and
 * logs it. Writing the same delivery again replaces its file: the outbox never holds a duplicate.
 */
@Injectable()
export class MailTransport implements OnApplicationShutdown {
  private readonly logger = new Logger(MailTransport.name);
  private readonly transporter: Transporter;
  readonly mode: 'smtp' | 'outbox';

  constructor(@Inject(MAIL_OPTIONS) private readonly options: MailOptions) {
    const smtp = options.smtp;
    if (smtp) {
      this.mode = 'smtp';
      const timeouts = {
        connectionTimeout: smtp.timeoutMs,
        greetingTimeout: smtp.timeoutMs,
        socketTimeout: smtp.timeoutMs,
      };
      this.transporter = nodemailer.createTransport(
        smtp.url
          ? { url: smtp.url, ...timeouts }
          : {
              host: smtp.host,
              port: smtp.port,
              secure: smtp.secure,
              auth: smtp.user ? { user: smtp.user, pass: smtp.password ?? '' } : undefined,
              ...timeouts,
            },
      );
      this.logger.log(`alert emails go to ${describeSmtp(smtp)}`);
    } else {
      this.mode = 'outbox';
      this.transporter = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'unix' });
      this.logger.log(`no SMTP settings: alert emails are written to ${resolve(options.outboxDir)}`);
    }
  }

  async send(email: OutgoingEmail): Promise<SentEmail> {
    const message = {
      from: this.options.from,
      to: email.to,
      subject: email.subject,
      html: email.html,
      text: email.text,
      messageId: email.messageId,
      headers: email.headers,
    };
    const info = await this.transporter.sendMail(message);
    if (this.mode === 'smtp') return { messageId: email.messageId, response: String(info.response ?? '') };

    const file = join(this.options.outboxDir, `${email.messageId.replace(/[<>]/g, '').split('@')[0]}.eml`);
    await mkdir(this.options.outboxDir, { recursive: true });
    // Write then rename, so a crash never leaves half a message under the final name.
    await writeFile(`${file}.tmp`, (info as unknown as { message: Buffer }).message);
    await rename(`${file}.tmp`, file);
    this.logger.log(`email "${email.subject}" to ${email.to} written to ${file}`);
    return { messageId: email.messageId, response: `outbox ${file}` };
  }

  onApplicationShutdown(): void {
    this.transporter.close();
  }
}
