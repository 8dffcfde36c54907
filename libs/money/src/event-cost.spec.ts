import {
  eventCostMicros,
  exceedsMaxEventCost,
  highestMicrosPerMtok,
  MAX_EVENT_COST_MICROS,
  TokenCounts,
  TokenPrices,
} from './event-cost';

const gpt4oMini: TokenPrices = {
  promptMicrosPerMtok: 150_000n, // $0.15 / Mtok
  completionMicrosPerMtok: 600_000n, // $0.60 / Mtok
  cachedMicrosPerMtok: 75_000n,
  reasoningMicrosPerMtok: 600_000n,
};

describe('eventCostMicros', () => {
  it('prices each token kind at its own rate', () => {
    // 1000 prompt (200 cached) and 500 completion (100 reasoning):
    // 800*0.15 + 200*0.075 + 400*0.6 + 100*0.6 = 120 + 15 + 240 + 60 = 435 micros
    const cost = eventCostMicros(
      { promptTokens: 1000, completionTokens: 500, cachedTokens: 200, reasoningTokens: 100 },
      gpt4oMini,
    );
    expect(cost).toBe(435n);
  });

  it('rounds half a micro up and less than half down', () => {
    const prices = { ...gpt4oMini, promptMicrosPerMtok: 500_000n };
    expect(
      eventCostMicros({ promptTokens: 1, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0 }, prices),
    ).toBe(1n);
    const cheaper = { ...gpt4oMini, promptMicrosPerMtok: 499_999n };
    expect(
      eventCostMicros({ promptTokens: 1, completionTokens: 0, cachedTokens: 0, reasoningTokens: 0 }, cheaper),
    ).toBe(0n);
  });

  it('stays exact beyond 2^53 intermediate products', () => {
    const expensive = { ...gpt4oMini, completionMicrosPerMtok: 9_000_000_000n }; // $9,000 / Mtok
    const cost = eventCostMicros(
      { promptTokens: 0, completionTokens: 1_000_000_000, cachedTokens: 0, reasoningTokens: 0 },
      expensive,
    );
    expect(cost).toBe(9_000_000_000_000n);
  });

  it('charges nothing for a free model', () => {
    const free = {
      promptMicrosPerMtok: 0n,
      completionMicrosPerMtok: 0n,
      cachedMicrosPerMtok: 0n,
      reasoningMicrosPerMtok: 0n,
    };
    expect(
      eventCostMicros({ promptTokens: 10, completionTokens: 10, cachedTokens: 0, reasoningTokens: 0 }, free),
    ).toBe(0n);
  });
});

describe('exceedsMaxEventCost', () => {
  // $100,000 per million prompt tokens: 10^9 prompt tokens cost exactly the limit, $100,000,000.
  const steep: TokenPrices = { ...gpt4oMini, promptMicrosPerMtok: 100_000_000_000n };
  const atLimit: TokenCounts = {
    promptTokens: 1_000_000_000,
    completionTokens: 0,
    cachedTokens: 0,
    reasoningTokens: 0,
  };
  const exceeds = (tokens: TokenCounts, prices: TokenPrices) =>
    exceedsMaxEventCost(tokens, prices, highestMicrosPerMtok(prices));

  it('accepts an event that costs exactly the limit', () => {
    expect(eventCostMicros(atLimit, steep)).toBe(MAX_EVENT_COST_MICROS);
    expect(exceeds(atLimit, steep)).toBe(false);
  });

  it('refuses an event whose cost rounds to one micro over the limit', () => {
    // One completion token at $0.50 / Mtok adds half a micro, which rounds up.
    const tokens = { ...atLimit, completionTokens: 1 };
    expect(exceeds(tokens, { ...steep, completionMicrosPerMtok: 500_000n })).toBe(true);
    expect(exceeds(tokens, { ...steep, completionMicrosPerMtok: 499_999n })).toBe(false);
  });

  it('prices each kind at its own rate near the limit, not all at the highest', () => {
    // Half the prompt cached at a tenth of the price: far below the limit though the bound is at it.
    const cachedHalf = { ...atLimit, promptTokens: 1_000_000_001, cachedTokens: 500_000_000 };
    expect(exceeds(cachedHalf, { ...steep, cachedMicrosPerMtok: 10_000_000_000n })).toBe(false);
    expect(exceeds({ ...atLimit, promptTokens: 1_000_000_001 }, steep)).toBe(true);
  });

  it('refuses the costliest event ingest can be sent at the highest price the catalog accepts', () => {
    const top = 1_000_000_000_000n; // $1,000,000 / Mtok
    const prices = {
      promptMicrosPerMtok: top,
      completionMicrosPerMtok: top,
      cachedMicrosPerMtok: top,
      reasoningMicrosPerMtok: top,
    };
    const tokens = { ...atLimit, completionTokens: 1_000_000_000, reasoningTokens: 1_000_000_000 };
    expect(exceeds(tokens, prices)).toBe(true);
  });
});
