import { clientErrorAnswer } from '@app/http';
import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { Server } from 'node:http';
import { BillingMetrics } from './billing-metrics';

/**
 * Times every request of an app into `billing_http_request_duration_seconds`, labelled with the
 * route's template ("/v1/accounts/:id/balance", never the id: one series per route, not per
 * account) or "unmatched" for paths no route serves. A Fastify hook rather than a Nest
 * interceptor: it also sees the answers given before Nest runs (401 for an unknown token, 503
 * when ingest sheds load), and costs one histogram update per request on the hot read paths.
 * Errors on a connection before any request (a body too slow, malformed HTTP) are counted by code
 * in `billing_http_client_errors_total`.
 */
export function observeHttpRequests(app: NestFastifyApplication): void {
  const metrics = app.get(BillingMetrics);
  app
    .getHttpAdapter()
    .getInstance()
    .addHook('onResponse', (request, reply, done) => {
      metrics.httpRequestDuration.observe(
        {
          route: request.routeOptions.url ?? 'unmatched',
          method: request.method,
          status: String(reply.statusCode),
        },
        reply.elapsedTime / 1000,
      );
      done();
    });
  (app.getHttpServer() as Server).on('clientError', (error: Error & { code?: string }) => {
    const answer = clientErrorAnswer(error);
    if (answer) metrics.httpClientErrors.inc({ code: answer.code });
  });
}
