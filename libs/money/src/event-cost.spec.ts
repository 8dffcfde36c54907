import { eventCostMicros, TokenPrices } from './event-cost';

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
