import { AlertMailer } from '@app/alerts';
import { MailEnv } from '@app/config';
import { FAILPOINT, FailpointName } from '@app/usage';
import { DynamicModule, Module } from '@nestjs/common';
import { EmailDeliveriesRepository } from './email-deliveries.repository';
import { MAIL_OPTIONS, mailOptionsFromEnv } from './mail-options';
import { MailTransport } from './mail-transport.service';
import { AlertEmailRenderer } from './render-alert-email';
import { SendAlertEmailService } from './send-alert-email.service';
import { SweepAlertEmailsService } from './sweep-alert-emails.service';

/** The alert email worker (the background worker process); raisers enqueue with @app/alerts' AlertMailer. */
@Module({})
export class NotificationsModule {
  /** The email worker: templates, SMTP or outbox, delivery records, the sweep and its schedule. */
  static forWorker(env: MailEnv, failpoint?: FailpointName): DynamicModule {
    return {
      module: NotificationsModule,
      providers: [
        { provide: MAIL_OPTIONS, useValue: mailOptionsFromEnv(env) },
        { provide: FAILPOINT, useValue: failpoint },
        AlertMailer,
        EmailDeliveriesRepository,
        // Templates are read and compiled once, here, at boot: a missing file stops the worker.
        { provide: AlertEmailRenderer, useFactory: () => new AlertEmailRenderer() },
        MailTransport,
        SendAlertEmailService,
        SweepAlertEmailsService,
      ],
      exports: [AlertMailer, SendAlertEmailService, SweepAlertEmailsService],
    };
  }
}
