import { NestFastifyApplication } from '@nestjs/platform-fastify';
import { BillingMetrics } from './billing-metrics';

/**
 * Times every request of an app into `billing_http_request_duration_seconds`, labelled with the
 * route's template ("/v1/accounts/:id/balance", never the id: one series per route, not per
 * account) or "unmatched" for paths no route serves. A Fastify hook rather than a Nest
 * interceptor: it also sees the answers given before Nest runs (401 for an unknown token, 503
 * when ingest sheds load), and costs one histogram update per request on the hot read paths.
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
}
