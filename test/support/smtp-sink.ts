import { simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';
import { freePort } from './app-process';
import { waitFor } from './wait-for';

/** One message as the SMTP server received and mailparser read it. */
export interface ReceivedEmail {
  /** The RCPT TO address of this copy (one entry per recipient of the SMTP transaction). */
  recipient: string;
  from: string;
  subject: string;
  html: string;
  text: string;
  messageId: string;
  headers: Map<string, unknown>;
  receivedAt: Date;
}

/**
 * A real SMTP server (smtp-server) in the test process, on a port of its own, that keeps every
 * message it accepts (parsed with mailparser). It can be stopped (connection refused) and
 * started again on the same port, or made to answer 4xx for a while, to play an SMTP outage.
 */
export class SmtpSink {
  port = 0;
  readonly messages: ReceivedEmail[] = [];
  /** While set, every MAIL FROM is answered with this code (e.g. 421, 451): a deferring server. */
  refuseWith: number | null = null;
  private server: SMTPServer | null = null;

  /** SMTP_* settings that point an app at this sink. */
  env(): Record<string, string> {
    return {
      SMTP_HOST: '127.0.0.1',
      SMTP_PORT: String(this.port),
      SMTP_SECURE: 'false',
      SMTP_TIMEOUT_MS: '5000',
    };
  }

  async start(): Promise<this> {
    if (this.server) return this;
    if (!this.port) this.port = await freePort();
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      onMailFrom: (_address, _session, callback) => {
        if (this.refuseWith === null) return callback();
        const error = new Error('try again later') as Error & { responseCode: number };
        error.responseCode = this.refuseWith;
        callback(error);
      },
      onData: (stream, session, callback) => {
        simpleParser(stream)
          .then((parsed) => {
            for (const rcpt of session.envelope.rcptTo) {
              this.messages.push({
                recipient: rcpt.address.toLowerCase(),
                from: parsed.from?.text ?? '',
                subject: parsed.subject ?? '',
                html: typeof parsed.html === 'string' ? parsed.html : '',
                text: parsed.text ?? '',
                messageId: parsed.messageId ?? '',
                headers: parsed.headers,
                receivedAt: new Date(),
              });
            }
            callback();
          })
          .catch((error: Error) => callback(error));
      },
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.port, '127.0.0.1', () => resolve());
    });
    server.on('error', () => undefined);
    this.server = server;
    return this;
  }

  /** Closes the port (clients get connection refused) until start() is called again. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  to(recipient: string): ReceivedEmail[] {
    return this.messages.filter((message) => message.recipient === recipient.toLowerCase());
  }

  /** Waits until `recipient` has received at least `count` messages, and returns them. */
  async waitForMessages(recipient: string, count = 1, timeoutMs = 30_000): Promise<ReceivedEmail[]> {
    return waitFor(
      () => this.to(recipient),
      (messages) => messages.length >= count,
      { timeoutMs, what: `${count} email(s) to ${recipient}` },
    );
  }
}
