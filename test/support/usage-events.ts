import { randomUUID } from 'node:crypto';

export interface TestEvent {
  id: string;
  account_id: string;
  model: string;
  prompt_tokens: number;
  completion_tokens: number;
  cached_tokens?: number;
  reasoning_tokens?: number;
  occurred_at?: string;
}

/** A deterministic pseudo-random generator, so a failing run can be replayed from its seed. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

export function usageEvent(
  accountId: string,
  model: string,
  random: () => number,
  id = randomUUID(),
): TestEvent {
  const prompt = Math.floor(random() * 5000);
  const completion = Math.floor(random() * 2000);
  return {
    id,
    account_id: accountId,
    model,
    prompt_tokens: prompt,
    completion_tokens: completion,
    cached_tokens: Math.floor(random() * prompt),
    reasoning_tokens: Math.floor(random() * completion),
  };
}

/**
 * Expected cost of an event in micros, computed independently of the product code from the
 * README's rule: sum of tokens x micros-per-Mtok per kind, divided by 1e6, rounded half up.
 */
export function expectedCostMicros(
  event: TestEvent,
  prices: { prompt: bigint; completion: bigint; cached: bigint; reasoning: bigint },
): bigint {
  const cached = BigInt(event.cached_tokens ?? 0);
  const reasoning = BigInt(event.reasoning_tokens ?? 0);
  const exact =
    (BigInt(event.prompt_tokens) - cached) * prices.prompt +
    cached * prices.cached +
    (BigInt(event.completion_tokens) - reasoning) * prices.completion +
    reasoning * prices.reasoning;
  const quotient = exact / 1_000_000n;
  return exact % 1_000_000n >= 500_000n ? quotient + 1n : quotient;
}
