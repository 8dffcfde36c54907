import { MailEnv } from '@app/config';

/** The mail settings of the worker, read once from its validated config. */
export interface MailOptions {
  /** Null: no SMTP configured; mail goes to the outbox folder. */
  smtp: SmtpOptions | null;
  from: string;
  outboxDir: string;
  accountHourlyLimit: number;
  sendingStaleMs: number;
  sweepIntervalMs: number;
  sweepAgeMs: number;
}

export interface SmtpOptions {
  /** smtp:// or smtps:// URL with any credentials, or host parts. */
  url?: string;
  host?: string;
  port?: number;
  secure?: boolean;
  user?: string;
  password?: string;
  timeoutMs: number;
}

export const MAIL_OPTIONS = Symbol('MAIL_OPTIONS');

export function mailOptionsFromEnv(env: MailEnv): MailOptions {
  let smtp: SmtpOptions | null = null;
  if (env.SMTP_URL) smtp = { url: env.SMTP_URL, timeoutMs: env.SMTP_TIMEOUT_MS };
  else if (env.SMTP_HOST) {
    smtp = {
      host: env.SMTP_HOST,
      port: env.SMTP_PORT,
      secure: env.SMTP_SECURE,
      user: env.SMTP_USER || undefined,
      password: env.SMTP_PASSWORD || undefined,
      timeoutMs: env.SMTP_TIMEOUT_MS,
    };
  }
  return {
    smtp,
    from: env.MAIL_FROM,
    outboxDir: env.MAIL_OUTBOX_DIR,
    accountHourlyLimit: env.EMAIL_ACCOUNT_HOURLY_LIMIT,
    sendingStaleMs: env.EMAIL_SENDING_STALE_MS,
    sweepIntervalMs: env.ALERT_EMAIL_SWEEP_INTERVAL_MS,
    sweepAgeMs: env.ALERT_EMAIL_SWEEP_AGE_MS,
  };
}

/** Where SMTP goes, for logs: host and port only, never the credentials of an SMTP_URL. */
export function describeSmtp(smtp: SmtpOptions): string {
  if (smtp.url) {
    const url = new URL(smtp.url);
    return `${url.protocol}//${url.hostname}:${url.port || (url.protocol === 'smtps:' ? 465 : 587)}`;
  }
  return `${smtp.secure ? 'smtps' : 'smtp'}://${smtp.host}:${smtp.port}`;
}
