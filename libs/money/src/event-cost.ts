/** Prices are integer micros per million tokens (USD 0.15 / Mtok = 150,000). */
export interface TokenPrices {
  promptMicrosPerMtok: bigint;
  completionMicrosPerMtok: bigint;
  cachedMicrosPerMtok: bigint;
  reasoningMicrosPerMtok: bigint;
}

/**
 * Token counts follow the OpenAI usage convention: cached tokens are part of prompt_tokens and
 * reasoning tokens are part of completion_tokens, so each kind is billed once at its own price.
 */
export interface TokenCounts {
  promptTokens: number;
  completionTokens: number;
  cachedTokens: number;
  reasoningTokens: number;
}

const TOKENS_PER_MTOK = 1_000_000n;
const HALF_MTOK = TOKENS_PER_MTOK / 2n;

/**
 * Cost of one event in micros. The exact cost is the sum over token kinds of tokens x price,
 * in micros x 1e-6; it is rounded once per event, half up (ties go to the next micro).
 * This is the only rounding on the usage path: ledger rows and balances are sums of these
 * per-event integers, so every total is exact.
 */
export function eventCostMicros(tokens: TokenCounts, prices: TokenPrices): bigint {
  const uncachedPrompt = BigInt(tokens.promptTokens - tokens.cachedTokens);
  const visibleCompletion = BigInt(tokens.completionTokens - tokens.reasoningTokens);
  const exact =
    uncachedPrompt * prices.promptMicrosPerMtok +
    BigInt(tokens.cachedTokens) * prices.cachedMicrosPerMtok +
    visibleCompletion * prices.completionMicrosPerMtok +
    BigInt(tokens.reasoningTokens) * prices.reasoningMicrosPerMtok;
  return (exact + HALF_MTOK) / TOKENS_PER_MTOK;
}

/**
 * The most one usage event may cost: 10^14 micros ($100,000,000). Ingest refuses a costlier event
 * (422 cost_out_of_range), so every sum the usage worker makes of event costs stays in 64 bits: a
 * group of at most 16 batches of 1,000 events costs at most 1.6 x 10^18 micros, well below 2^63
 * (about 9.2 x 10^18), the limit of Redis's HINCRBY and of Postgres bigint.
 */
export const MAX_EVENT_COST_MICROS = 100_000_000_000_000n;

/** MAX_EVENT_COST_MICROS before rounding (micros x 10^6), less a margin far above float error. */
const CHEAP_BOUND_LIMIT = Number(MAX_EVENT_COST_MICROS * TOKENS_PER_MTOK) * (1 - 1e-9);

/** The highest of a version's four prices, as a Number: computed once per version for exceedsMaxEventCost. */
export function highestMicrosPerMtok(prices: TokenPrices): number {
  return Math.max(
    Number(prices.promptMicrosPerMtok),
    Number(prices.completionMicrosPerMtok),
    Number(prices.cachedMicrosPerMtok),
    Number(prices.reasoningMicrosPerMtok),
  );
}

/**
 * Whether an event costs more than MAX_EVENT_COST_MICROS. Ingest asks this of every event, so it
 * must be nearly free: every token is billed at most at the version's highest price, and that
 * bound, in floating point, clears all but events within reach of the limit. Only those are
 * priced exactly, with BigInt. Tokens are as ingest accepts them: cached <= prompt and
 * reasoning <= completion.
 */
export function exceedsMaxEventCost(tokens: TokenCounts, prices: TokenPrices, highestPrice: number): boolean {
  if (!mayExceedMaxEventCost(tokens.promptTokens + tokens.completionTokens, highestPrice)) return false;
  return eventCostMicros(tokens, prices) > MAX_EVENT_COST_MICROS;
}

/**
 * The cheap half of exceedsMaxEventCost, from the billed tokens (prompt + completion) alone: false
 * means the event is surely within the limit. A range check, not a price: no money is computed
 * in floating point, and an event it cannot clear is priced exactly.
 */
export function mayExceedMaxEventCost(billedTokens: number, highestPrice: number): boolean {
  return billedTokens * highestPrice > CHEAP_BOUND_LIMIT;
}
