import { PriceVersion } from './catalog-types';
import { PriceTimeline } from './price-timeline';

function version(id: number, versionNumber: number, effectiveFrom: string): PriceVersion {
  return {
    id,
    modelId: 'm',
    version: versionNumber,
    effectiveFrom: new Date(effectiveFrom),
    promptMicrosPerMtok: BigInt(id),
    completionMicrosPerMtok: 0n,
    cachedMicrosPerMtok: 0n,
    reasoningMicrosPerMtok: 0n,
    highestMicrosPerMtok: id,
  };
}

describe('PriceTimeline', () => {
  const sut = new PriceTimeline();
  sut.add(version(2, 2, '2026-02-01T00:00:00Z'));
  sut.add(version(1, 1, '2026-01-01T00:00:00Z'));
  sut.add(version(3, 3, '2026-03-01T00:00:00Z'));

  it('finds the version in effect at an instant', () => {
    expect(sut.at(Date.parse('2026-02-15T00:00:00Z'))?.version).toBe(2);
  });

  it('applies a version from its effective_from on', () => {
    expect(sut.at(Date.parse('2026-03-01T00:00:00Z'))?.version).toBe(3);
    expect(sut.at(Date.parse('2026-02-28T23:59:59.999Z'))?.version).toBe(2);
  });

  it('knows no price before the first version, so such events are never free', () => {
    expect(sut.at(Date.parse('2025-12-31T00:00:00Z'))).toBeUndefined();
  });
});
