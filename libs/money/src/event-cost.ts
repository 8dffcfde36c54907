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
