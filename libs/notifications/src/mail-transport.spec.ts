import { simpleParser } from 'mailparser';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MailOptions } from './mail-options';
import { MailTransport } from './mail-transport.service';

describe('MailTransport without SMTP settings', () => {
  let dir: string;
  let sut: MailTransport;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'outbox-spec-'));
    const options: MailOptions = {
      smtp: null,
      from: 'Billing <billing@example.com>',
      outboxDir: join(dir, 'outbox'),
      accountHourlyLimit: 30,
      sendingStaleMs: 600_000,
      sweepIntervalMs: 0,
      sweepAgeMs: 0,
    };
    sut = new MailTransport(options);
  });

  afterEach(async () => {
    sut.onApplicationShutdown();
    await rm(dir, { recursive: true, force: true });
  });

  const email = {
    to: 'owner@example.test',
    subject: 'Acme: credit balance is low ($8.42 left)',
    html: '<p>$8.42 left</p>',
    text: '$8.42 left\n',
    messageId: '<4f6c1d2e-0000-4000-8000-000000000001@example.com>',
  };

  it('writes the email as an .eml file named after its delivery, with both parts', async () => {
    const sent = await sut.send(email);
    const files = await readdir(join(dir, 'outbox'));
    expect(files).toEqual(['4f6c1d2e-0000-4000-8000-000000000001.eml']);
    expect(sent.response).toContain(files[0]);
    const parsed = await simpleParser(await readFile(join(dir, 'outbox', files[0])));
    expect(parsed.subject).toBe(email.subject);
    expect(parsed.messageId).toBe(email.messageId);
    expect(parsed.text).toContain('$8.42 left');
    expect(parsed.html).toContain('<p>$8.42 left</p>');
    expect(parsed.to && 'text' in parsed.to ? parsed.to.text : '').toBe('owner@example.test');
  });

  it('keeps one file when the same delivery is written again', async () => {
    await sut.send(email);
    await sut.send(email);
    expect(await readdir(join(dir, 'outbox'))).toHaveLength(1);
  });
});
