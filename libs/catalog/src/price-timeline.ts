import { PriceVersion } from './catalog-types';

/** A model's price versions ordered by effective_from; answers "which version applied at t?". */
export class PriceTimeline {
  private readonly versions: PriceVersion[] = [];

  add(price: PriceVersion): void {
    if (this.versions.some((existing) => existing.id === price.id)) return;
    this.versions.push(price);
    // Ties on effective_from go to the later version: the newest statement of a price wins.
    this.versions.sort(
      (a, b) => a.effectiveFrom.getTime() - b.effectiveFrom.getTime() || a.version - b.version,
    );
  }

  /** The version in effect at `atMs` (latest effective_from <= atMs), or undefined if none was yet. */
  at(atMs: number): PriceVersion | undefined {
    for (let index = this.versions.length - 1; index >= 0; index--) {
      if (this.versions[index].effectiveFrom.getTime() <= atMs) return this.versions[index];
    }
    return undefined;
  }

  current(nowMs = Date.now()): PriceVersion | undefined {
    return this.at(nowMs);
  }

  all(): readonly PriceVersion[] {
    return this.versions;
  }
}
