import { BENCH_KEYS_PER_ACCOUNT, benchKeyId, benchProjectId } from './attribution';
import { randomBytes } from 'node:crypto';

export interface BenchModel {
  id: string;
  /** USD per million tokens, as the admin API takes them. */
  prompt: string;
  completion: string;
  cached?: string;
  /** Share of traffic. */
  weight: number;
}

/** A small realistic catalog: two paid frontier models, a cheap open model and its free variant. */
export const BENCH_MODELS: BenchModel[] = [
  { id: 'openai/gpt-4o-mini', prompt: '0.15', completion: '0.60', cached: '0.075', weight: 40 },
  { id: 'anthropic/claude-3.5-sonnet', prompt: '3', completion: '15', cached: '0.30', weight: 20 },
  { id: 'meta-llama/llama-3.1-8b-instruct', prompt: '0.02', completion: '0.05', weight: 30 },
  { id: 'meta-llama/llama-3.1-8b-instruct:free', prompt: '0', completion: '0', weight: 10 },
];

/** A deterministic PRNG (mulberry32), so the load is the same from run to run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The same string, its pieces joined in place. V8 keeps a string built with `+` as a tree of its
 * pieces until something reads it; the 50,000 recent events kept for repeats were such trees, a
 * dozen heap objects each for the garbage collector to trace: 12.8 µs of the generator's CPU per
 * event against 7.5 flattened (2026-12-05). Converting to a number reads, and so flattens, it.
 */
function flattened(text: string): string {
  void Number(text);
  return text;
}

/** Cumulative distribution for picking index i (0-based) with weight 1/(i+1)^s. */
function zipfCdf(n: number, s: number): Float64Array {
  const cdf = new Float64Array(n);
  let total = 0;
  for (let i = 0; i < n; i++) {
    total += 1 / Math.pow(i + 1, s);
    cdf[i] = total;
  }
  for (let i = 0; i < n; i++) cdf[i] /= total;
  return cdf;
}

function pick(cdf: Float64Array, u: number): number {
  let lo = 0;
  let hi = cdf.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (cdf[mid] < u) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export interface EventShape {
  id: string;
  accountIndex: number;
  model: string;
  prompt: number;
  completion: number;
  cached: number;
  reasoning: number;
  apiKeyId: string;
  projectId: string | null;
  occurredAtMs: number;
  metadata: string | null;
}

/**
 * Usage traffic like a gateway's: accounts drawn from a Zipf distribution (a few very busy
 * tenants, a long tail), a weighted model mix, token counts with a long tail, cached and
 * reasoning tokens on part of the traffic, keys and projects, a little metadata, and a share of
 * events re-sent with the same id (gateway retries) picked from recently sent events.
 */
export class UsageTraffic {
  private readonly random: () => number;
  private readonly accountCdf: Float64Array;
  private readonly modelCdf: Float64Array;
  private readonly tag = randomBytes(4).toString('hex');
  private counter = 0;
  /** Recently sent events as JSON, for repeats. */
  private readonly recent: string[] = [];
  private recentNext = 0;
  generated = 0;
  repeats = 0;

  constructor(
    readonly accounts: readonly string[],
    readonly models: readonly BenchModel[],
    private readonly options: { zipfS: number; duplicateRate: number; seed: number; recentWindow?: number },
  ) {
    this.random = seededRandom(options.seed);
    // Shuffle which account is hot, so hot accounts are spread over the uuid order.
    const order = accounts.map((_, i) => i);
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    this.order = order;
    this.accountCdf = zipfCdf(accounts.length, options.zipfS);
    const weights = models.map((m) => m.weight);
    const sum = weights.reduce((a, b) => a + b, 0);
    let acc = 0;
    this.modelCdf = Float64Array.from(weights.map((w) => (acc += w / sum)));
  }

  private readonly order: number[];

  /** Share of events that go to the busiest account (for the report). */
  hottestShare(): number {
    return this.accountCdf[0];
  }

  /** One fresh event (never a repeat). */
  nextShape(nowMs = Date.now()): EventShape {
    const r = this.random;
    const accountIndex = this.order[pick(this.accountCdf, r())];
    const model = this.models[pick(this.modelCdf, r())].id;
    const prompt = 50 + Math.floor(r() ** 3 * 12_000);
    const completion = 5 + Math.floor(r() ** 2 * 2_000);
    const cached = r() < 0.3 ? Math.floor(prompt * r() * 0.8) : 0;
    const reasoning = r() < 0.2 ? Math.floor(completion * r() * 0.6) : 0;
    const metadata = r() < 0.1 ? `{"route":"/v1/chat/completions","stream":${r() < 0.5}}` : null;
    return {
      id: `ev-${this.tag}-${(this.counter++).toString(36)}`,
      accountIndex,
      model,
      prompt,
      completion,
      cached,
      reasoning,
      apiKeyId: `key_${accountIndex}_${Math.floor(r() * 3)}`,
      projectId: r() < 0.5 ? `proj_${accountIndex % 97}` : null,
      occurredAtMs: nowMs - Math.floor(r() * 3000),
      metadata,
    };
  }

  /** Per-account JSON prefixes, built once: the generator must stay cheap next to what it measures. */
  private accountPrefix: string[] = [];

  /**
   * One fresh event as JSON, written directly (no intermediate object): the same fields and
   * distributions as nextShape, with occurred_at taken from a few recent instants per batch.
   */
  private eventJson(instants: string[]): string {
    const r = this.random;
    const accountIndex = this.order[pick(this.accountCdf, r())];
    let prefix = this.accountPrefix[accountIndex];
    if (prefix === undefined) {
      prefix = this.accountPrefix[accountIndex] =
        `{"account_id":"${this.accounts[accountIndex]}","api_key_id":"${benchKeyId(this.accounts[accountIndex], 0).slice(0, -1)}`;
    }
    const model = this.modelJson[pick(this.modelCdf, r())];
    const prompt = 50 + Math.floor(r() ** 3 * 12_000);
    const completion = 5 + Math.floor(r() ** 2 * 2_000);
    const cached = r() < 0.3 ? Math.floor(prompt * r() * 0.8) : 0;
    const reasoning = r() < 0.2 ? Math.floor(completion * r() * 0.6) : 0;
    let json =
      prefix +
      `${Math.floor(r() * BENCH_KEYS_PER_ACCOUNT)}","id":"ev-${this.tag}-${(this.counter++).toString(36)}",${model},` +
      `"prompt_tokens":${prompt},"completion_tokens":${completion},"cached_tokens":${cached},"reasoning_tokens":${reasoning},`;
    if (r() < 0.5) json += `"project_id":"${benchProjectId(this.accounts[accountIndex])}",`;
    if (r() < 0.1) json += `"metadata":{"route":"/v1/chat/completions","stream":${r() < 0.5}},`;
    return json + `"occurred_at":"${instants[Math.floor(r() * instants.length)]}"}`;
  }

  private get modelJson(): string[] {
    return (this._modelJson ??= this.models.map((m) => `"model":"${m.id}"`));
  }
  private _modelJson: string[] | undefined;

  /** The JSON body of one ingest request with `size` events, about duplicateRate of them repeats. */
  batchBody(size: number): string {
    const now = Date.now();
    const instants = [0, 250, 500, 1000, 1500, 2000, 2500, 3000].map((ago) =>
      new Date(now - ago).toISOString(),
    );
    const parts: string[] = new Array(size);
    const window = this.options.recentWindow ?? 50_000;
    for (let i = 0; i < size; i++) {
      if (this.recent.length > 1000 && this.random() < this.options.duplicateRate) {
        parts[i] = this.recent[Math.floor(this.random() * this.recent.length)];
        this.repeats++;
        continue;
      }
      const json = flattened(this.eventJson(instants));
      parts[i] = json;
      if (this.recent.length < window) this.recent.push(json);
      else {
        this.recent[this.recentNext] = json;
        this.recentNext = (this.recentNext + 1) % window;
      }
    }
    this.generated += size;
    return `{"events":[${parts.join(',')}]}`;
  }

  /** A batch size from 100 to 1,000: mostly small and medium, some full batches. */
  batchSize(): number {
    const u = this.random();
    if (u < 0.2) return 1000;
    return 100 + Math.floor(this.random() * 901);
  }
}
