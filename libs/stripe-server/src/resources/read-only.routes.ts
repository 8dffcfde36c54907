import { ApiContext } from '../core/api-context';
import { LIST_PARAMS, paginate } from '../core/list';
import { checkParams, optionalString, optionalStringList } from '../core/params';
import { getOrThrow, StripeEvent } from '../core/state';
import { PathParams, Router } from '../http/router';

/** Charges, disputes and events are created as side effects; the API only reads them. */

function retrieveCharge(ctx: ApiContext, path: PathParams) {
  checkParams(ctx.params, {});
  return getOrThrow(ctx.state.charges, 'charge', path.id);
}

function listCharges(ctx: ApiContext) {
  checkParams(ctx.params, { ...LIST_PARAMS, customer: true, payment_intent: true });
  const customer = optionalString(ctx.params, 'customer');
  const paymentIntent = optionalString(ctx.params, 'payment_intent');
  const charges = [...ctx.state.charges.values()].filter(
    (charge) =>
      (!customer || charge.customer === customer) &&
      (!paymentIntent || charge.payment_intent === paymentIntent),
  );
  return paginate(charges, ctx.params, '/v1/charges');
}

function retrieveDispute(ctx: ApiContext, path: PathParams) {
  checkParams(ctx.params, {});
  return getOrThrow(ctx.state.disputes, 'dispute', path.id);
}

function listDisputes(ctx: ApiContext) {
  checkParams(ctx.params, { ...LIST_PARAMS, charge: true, payment_intent: true });
  const charge = optionalString(ctx.params, 'charge');
  const paymentIntent = optionalString(ctx.params, 'payment_intent');
  const disputes = [...ctx.state.disputes.values()].filter(
    (dispute) =>
      (!charge || dispute.charge === charge) && (!paymentIntent || dispute.payment_intent === paymentIntent),
  );
  return paginate(disputes, ctx.params, '/v1/disputes');
}

function retrieveEvent(ctx: ApiContext, path: PathParams) {
  checkParams(ctx.params, {});
  return getOrThrow(ctx.state.events, 'event', path.id);
}

/** `type` may end in `.*` (`payment_intent.*`), as in Stripe; `types[]` lists several. */
function typeMatcher(ctx: ApiContext): (event: StripeEvent) => boolean {
  const patterns = [
    optionalString(ctx.params, 'type'),
    ...(optionalStringList(ctx.params, 'types') ?? []),
  ].filter((pattern): pattern is string => Boolean(pattern));
  if (patterns.length === 0) return () => true;
  return (event) =>
    patterns.some((pattern) =>
      pattern.endsWith('.*') ? event.type.startsWith(pattern.slice(0, -1)) : event.type === pattern,
    );
}

function listEvents(ctx: ApiContext) {
  checkParams(ctx.params, { ...LIST_PARAMS, type: true, types: true, delivery_success: true });
  const matches = typeMatcher(ctx);
  return paginate([...ctx.state.events.values()].filter(matches), ctx.params, '/v1/events');
}

export function registerReadOnlyRoutes(router: Router): void {
  router
    .get('/v1/charges', listCharges)
    .get('/v1/charges/:id', retrieveCharge)
    .get('/v1/disputes', listDisputes)
    .get('/v1/disputes/:id', retrieveDispute)
    .get('/v1/events', listEvents)
    .get('/v1/events/:id', retrieveEvent);
}
