import { BillingStack } from '../support/billing-stack';
import { TEST_ADMIN_TOKEN, TEST_GATEWAY_TOKEN } from '../support/test-stores';
import { waitFor } from '../support/wait-for';

interface RequestLine {
  level: number;
  reqId: string;
  req: { method: string; url: string };
  res: { statusCode: number };
  responseTime: number;
  msg: string;
}

/** The JSON lines an app wrote for answered requests (`LOG_LEVEL=info`, the default). */
function requestLines(output: string): RequestLine[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as RequestLine)
    .filter((line) => line.msg === 'request completed');
}

/** What an operator reads: one JSON line per answered request, without credentials or scrapes. */
describe('request logs', () => {
  const stack = new BillingStack({ workers: 0, env: { LOG_LEVEL: 'info' } });

  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  it('logs every answered request once with its id, method, url, status and time, and no token', async () => {
    const account = await stack.createAccount();
    const balancePath = `/v1/accounts/${account}/balance`;
    expect((await stack.gateway.get(balancePath)).status).toBe(200);
    expect((await stack.gateway.as('not-a-token').get(balancePath)).status).toBe(401);
    const unknownModel = { account_id: account, model: 'no/such-model' };
    expect((await stack.gateway.post('/v1/authorize', unknownModel)).status).toBe(422);
    // A query may carry anything a client put there: the line has the path only.
    const usagePath = `/v1/accounts/${account}/usage`;
    expect((await stack.gateway.get(`${usagePath}?limit=5&cursor=query-secret`)).status).toBe(422);
    expect((await fetch(`${stack.ingest.url}/health/ready`)).status).toBe(200);
    expect((await fetch(`${stack.ingest.url}/metrics`)).status).toBe(200);

    const lines = await waitFor(
      () => requestLines(stack.ingest.output),
      (found) => found.length >= 4,
      { what: 'four request lines from ingest' },
    );
    expect(lines.map(({ req, res }) => [req.method, req.url, res.statusCode])).toEqual([
      ['GET', balancePath, 200],
      ['GET', balancePath, 401],
      ['POST', '/v1/authorize', 422],
      ['GET', usagePath, 422],
    ]);
    for (const line of lines) {
      expect(line.level).toBe(30);
      expect(line.responseTime).toEqual(expect.any(Number));
    }
    expect(new Set(lines.map((line) => line.reqId)).size).toBe(4);

    // The admin call that created the account, on the api.
    const apiLines = requestLines(stack.api.output);
    expect(apiLines.map(({ req, res }) => [req.method, req.url, res.statusCode])).toContainEqual([
      'POST',
      '/v1/admin/accounts',
      201,
    ]);
    for (const app of [stack.ingest, stack.api]) {
      expect(app.output).not.toContain(TEST_GATEWAY_TOKEN);
      expect(app.output).not.toContain(TEST_ADMIN_TOKEN);
      expect(app.output).not.toContain('not-a-token');
      expect(app.output).not.toContain('query-secret');
    }
  });
});

describe('request logs with REQUEST_LOG=errors', () => {
  const stack = new BillingStack({ workers: 0, env: { LOG_LEVEL: 'info', REQUEST_LOG: 'errors' } });

  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  it('logs only the answers of status 400 and up', async () => {
    const account = await stack.createAccount();
    const balancePath = `/v1/accounts/${account}/balance`;
    expect((await stack.gateway.get(balancePath)).status).toBe(200);
    expect((await stack.gateway.as('not-a-token').get(balancePath)).status).toBe(401);
    expect((await stack.gateway.get(balancePath)).status).toBe(200);
    const unknownModel = { account_id: account, model: 'no/such-model' };
    expect((await stack.gateway.post('/v1/authorize', unknownModel)).status).toBe(422);

    // The 422 was answered after the 200s: once its line is there, theirs would be too.
    const lines = await waitFor(
      () => requestLines(stack.ingest.output),
      (found) => found.some((line) => line.res.statusCode === 422),
      { what: 'the 422 line from ingest' },
    );
    expect(lines.map(({ req, res }) => [req.method, req.url, res.statusCode])).toEqual([
      ['GET', balancePath, 401],
      ['POST', '/v1/authorize', 422],
    ]);
    expect(requestLines(stack.api.output)).toEqual([]);
  });
});
