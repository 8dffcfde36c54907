import { DynamicModule } from '@nestjs/common';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { LoggerModule, PinoLogger } from 'nestjs-pino';
import { pino } from 'pino';

/** Scrapes and probes are not logged: they come every few seconds and say nothing. */
const NOT_LOGGED = /^\/(health|metrics)(\/|\?|$)/;

/**
 * JSON logs through pino: Nest's logger writes through nestjs-pino, and logRequests() adds one
 * line per answered request. Credentials are redacted at the source; request bodies and headers
 * are never logged (they may carry tokens or customer metadata).
 *
 * No per-request middleware (`forRoutes: []`): pino-http's child logger for every request, Nest's
 * middleware layer on Fastify and the AsyncLocalStorage that carries the child (its promise hooks
 * then run for every promise of the process) cost about a fifth of the CPU of an authorize or
 * balance read (npm run bench:reads). The price: a line logged while a request runs does not carry
 * the request's id; the error filter names the request itself.
 */
export function loggingModule(level: string): DynamicModule {
  return LoggerModule.forRoot({
    pinoHttp: {
      level,
      redact: {
        paths: ['req.headers.authorization', 'req.headers.cookie', 'req.headers["idempotency-key"]'],
        censor: '[redacted]',
      },
    },
    forRoutes: [],
  });
}

/**
 * Lines of an app's boot before its Nest app (and so its logger) exists, such as waiting for
 * Redis: JSON as the app's own lines are, under `context` as Nest's Logger puts it.
 */
export function bootLogger(
  level: string,
  context: string,
): { warn(line: string): void; info(line: string): void } {
  return pino({ level }).child({ context });
}

/** A URL without its query: a client may put anything there, a token or a customer's data included. */
function pathOf(url: string): string {
  const queryStart = url.indexOf('?');
  return queryStart === -1 ? url : url.slice(0, queryStart);
}

/** REQUEST_LOG: which answered requests get a line. */
export type RequestLogMode = 'all' | 'errors' | 'off';

/**
 * One line per answered request from a Fastify hook, as pino-http wrote it (5xx at error, the rest
 * at info) but with the path, not the query; with `errors`, only answers of status 400 and up.
 */
export async function logRequests(app: NestFastifyApplication, mode: RequestLogMode): Promise<void> {
  if (mode === 'off') return;
  const lowestStatus = mode === 'errors' ? 400 : 0;
  const logger = (await app.resolve(PinoLogger)).logger;
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onResponse', (request, reply, done) => {
      const level = reply.statusCode >= 500 ? 'error' : 'info';
      if (reply.statusCode >= lowestStatus && logger.isLevelEnabled(level) && !NOT_LOGGED.test(request.url)) {
        logger[level](
          {
            reqId: request.id,
            req: { method: request.method, url: pathOf(request.url) },
            res: { statusCode: reply.statusCode },
            responseTime: Math.round(reply.elapsedTime),
          },
          'request completed',
        );
      }
      done();
    });
}
