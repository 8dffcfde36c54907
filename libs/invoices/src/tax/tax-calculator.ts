import { TaxRateTable } from './tax-rate-table';

/** Micros in one cent: tax is rounded to whole cents because cards are charged in cents. */
const MICROS_PER_CENT = 10_000n;
/** ppm x micros-per-cent: dividing subtotal x ppm by this gives the tax in cents. */
const PPM_CENTS_DIVISOR = 1_000_000n * MICROS_PER_CENT;

export interface TaxInput {
  /** Billing address country, ISO 3166-1 alpha-2; null when the account has no billing address. */
  country: string | null;
  /** U.S. state code for U.S. addresses; ignored elsewhere. */
  region: string | null;
  /** An approved tax-exemption certificate is on file. */
  exempt: boolean;
  /** The amount taxed, in micros of whole cents. */
  subtotalMicros: bigint;
}

export interface TaxTreatment {
  /** "US-CA", "DE", ...; null when no jurisdiction applies (no address, unknown country or state). */
  jurisdiction: string | null;
  /** Parts per million (7.25 % = 72500); 0 when exempt or untaxed. */
  ratePpm: number;
  exempt: boolean;
}

export interface TaxResult extends TaxTreatment {
  /** Whole cents, in micros. */
  taxMicros: bigint;
}

/**
 * THE rounding rule, applied once per purchase or invoice on its whole subtotal (never per line,
 * never again later): tax = subtotal x rate, rounded to the nearest cent, half a cent rounding up.
 * Integer math only: cents = floor((2 x subtotal x ppm + D) / 2D) with D = 10^6 ppm x 10^4
 * micros per cent. Subtotal and rate are never negative, so "half up" is "half away from zero".
 */
export function taxOnSubtotal(subtotalMicros: bigint, ratePpm: number): bigint {
  if (subtotalMicros < 0n) throw new RangeError('a taxed subtotal cannot be negative');
  if (!Number.isInteger(ratePpm) || ratePpm < 0) throw new RangeError(`bad tax rate ${ratePpm} ppm`);
  const numerator = subtotalMicros * BigInt(ratePpm);
  const cents = (2n * numerator + PPM_CENTS_DIVISOR) / (2n * PPM_CENTS_DIVISOR);
  return cents * MICROS_PER_CENT;
}

/**
 * Which jurisdiction taxes a purchase, at what rate, and how much. Pure: the rates come from the
 * table loaded at boot, the account's address and exemption from the caller.
 *
 * - U.S. address: the state's statewide base rate (data/tax/us-states.json); states without a
 *   sales tax have rate 0 and still name their jurisdiction (US-OR).
 * - Other countries: the configured rate (data/tax/countries.json, TAX_COUNTRY_RATES).
 * - No billing address, a country without a configured rate, or a U.S. address without a known
 *   state: no tax, jurisdiction null.
 * - Exempt (approved certificate): the jurisdiction is kept, rate 0 and no tax.
 */
export class TaxCalculator {
  constructor(private readonly rates: TaxRateTable) {}

  treatment(
    country: string | null,
    region: string | null,
    exempt: boolean,
    at: Date = new Date(),
  ): TaxTreatment {
    const jurisdiction = this.jurisdiction(country, region, at);
    if (!jurisdiction) return { jurisdiction: null, ratePpm: 0, exempt: false };
    if (exempt) return { jurisdiction: jurisdiction.code, ratePpm: 0, exempt: true };
    return { jurisdiction: jurisdiction.code, ratePpm: jurisdiction.ratePpm, exempt: false };
  }

  calculate(input: TaxInput, at: Date = new Date()): TaxResult {
    const treatment = this.treatment(input.country, input.region, input.exempt, at);
    return { ...treatment, taxMicros: taxOnSubtotal(input.subtotalMicros, treatment.ratePpm) };
  }

  /** Is this a U.S. state (or DC) code the rate file knows? */
  isUsState(code: string): boolean {
    return this.rates.isUsState(code);
  }

  private jurisdiction(
    country: string | null,
    region: string | null,
    at: Date,
  ): { code: string; ratePpm: number } | null {
    const cc = country?.trim().toUpperCase();
    if (!cc) return null;
    if (cc === 'US') {
      const state = region?.trim().toUpperCase();
      const ratePpm = state ? this.rates.usStateRate(state, at) : null;
      return ratePpm === null ? null : { code: `US-${state}`, ratePpm };
    }
    const ratePpm = this.rates.countryRate(cc, at);
    return ratePpm === null ? null : { code: cc, ratePpm };
  }
}
