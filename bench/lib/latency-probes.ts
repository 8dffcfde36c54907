import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { HttpClient, HttpResult } from './http-client';

/**
 * The latency probes of the half-load phase (T2's 100-event batches, T4's authorize and balance
 * reads), run on a thread of their own. On the load generator's event loop a probe's response
 * would wait behind the sending of 1,000-event batches and that heap's garbage collections, and
 * the measured latency would include them; a gateway calling authorize is another process.
 */
export interface LatencyProbePlan {
  ingestUrl: string;
  readsUrl: string;
  token: string;
  /** Epoch ms at which the phase starts; probe times are relative to it. */
  startAt: number;
  endAt: number;
  /** Latencies before this epoch ms are not kept. */
  warmUntil: number;
  /** 100-event bodies and when to send them (ms after startAt), open loop. */
  ingestProbes: { atMs: number; body: string }[];
  /** Authorize bodies and balance paths, taken in turn by two sequential readers. */
  authorizeBodies: string[];
  balancePaths: string[];
  readPauseMs: number;
}

export interface LatencyProbeResult {
  /** Every ingest probe's outcome, for the phase's tally (status 0: a transport error). */
  ingestProbes: { status: number; body: string; ms: number; warm: boolean; error?: string }[];
  authorizeMs: number[];
  balanceMs: number[];
  readErrors: number;
  readErrorSamples: string[];
}

const INGEST_PATH = '/v1/usage/events';
/** 402 (insufficient credits) and 429 (free-model rate limit) are authorize's answers too. */
const READ_ANSWERS = new Set([200, 402, 429]);

export function runLatencyProbes(plan: LatencyProbePlan): Promise<LatencyProbeResult> {
  return new Promise((resolve, reject) => {
    const thread = new Worker(__filename, { workerData: plan });
    thread.once('message', (result: LatencyProbeResult) => resolve(result));
    thread.once('error', reject);
    thread.once('exit', (code) => code !== 0 && reject(new Error(`latency probe thread exited ${code}`)));
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

async function probe(plan: LatencyProbePlan): Promise<LatencyProbeResult> {
  const ingestClient = new HttpClient(plan.ingestUrl, plan.token, 16);
  const readClient = new HttpClient(plan.readsUrl, plan.token, 2);
  const result: LatencyProbeResult = {
    ingestProbes: [],
    authorizeMs: [],
    balanceMs: [],
    readErrors: 0,
    readErrorSamples: [],
  };
  const failRead = (what: string) => {
    result.readErrors++;
    if (result.readErrorSamples.length < 5) result.readErrorSamples.push(what);
  };

  const sendProbes = async () => {
    const inFlight: Promise<void>[] = [];
    for (const { atMs, body } of plan.ingestProbes) {
      await sleep(plan.startAt + atMs - Date.now());
      const sentAt = Date.now();
      inFlight.push(
        ingestClient.send('POST', INGEST_PATH, body).then(
          (response: HttpResult) =>
            void result.ingestProbes.push({ ...response, warm: sentAt >= plan.warmUntil }),
          (error: Error) =>
            void result.ingestProbes.push({ status: 0, body: '', ms: 0, warm: false, error: error.message }),
        ),
      );
    }
    await Promise.all(inFlight);
  };

  const reader = async (kind: 'authorize' | 'balance') => {
    const items = kind === 'authorize' ? plan.authorizeBodies : plan.balancePaths;
    await sleep(plan.startAt - Date.now());
    for (let i = 0; Date.now() < plan.endAt; i++) {
      const item = items[i % items.length];
      try {
        const response =
          kind === 'authorize'
            ? await readClient.send('POST', '/v1/authorize', item)
            : await readClient.send('GET', item);
        if (!READ_ANSWERS.has(response.status))
          failRead(`${kind} ${response.status} ${response.body.slice(0, 200)}`);
        else if (Date.now() > plan.warmUntil)
          (kind === 'authorize' ? result.authorizeMs : result.balanceMs).push(response.ms);
      } catch (error) {
        failRead(`${kind} ${String(error)}`);
      }
      await sleep(plan.readPauseMs);
    }
  };

  await Promise.all([sendProbes(), reader('authorize'), reader('balance')]);
  ingestClient.close();
  readClient.close();
  return result;
}

if (!isMainThread && parentPort) {
  const port = parentPort;
  void probe(workerData as LatencyProbePlan).then((result) => port.postMessage(result));
}
