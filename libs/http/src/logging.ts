import { DynamicModule } from '@nestjs/common';
import { LoggerModule } from 'nestjs-pino';

/**
 * JSON logs through pino. Credentials are redacted at the source; request bodies are never
 * logged (they may carry customer metadata). Health and metrics scrapes are not logged.
 */
export function loggingModule(level: string): DynamicModule {
  return LoggerModule.forRoot({
    pinoHttp: {
      level,
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["idempotency-key"]'],
        censor: '[redacted]',
      },
      autoLogging: { ignore: (req) => /^\/(health|metrics)/.test(req.url ?? '') },
      quietReqLogger: true,
      serializers: { req: (req: { method: string; url: string }) => ({ method: req.method, url: req.url }) },
    },
  });
}
