import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { percentToPpm } from './tax-rate';

/** One rate of one jurisdiction, in force from `effective` (YYYY-MM-DD, UTC) until a later entry. */
export interface TaxRateEntry {
  ratePpm: number;
  effective: string;
}

export interface UsStateRate {
  state: string;
  name: string;
  rate: string;
  effective: string;
}

export interface CountryRate {
  country: string;
  rate: string;
  effective?: string;
}

const STATE_CODE = /^[A-Z]{2}$/;
const COUNTRY_CODE = /^[A-Z]{2}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
/** A country rate without a date applies to every purchase. */
const ALWAYS = '0000-01-01';

/**
 * The sales-tax rates the calculator uses: U.S. statewide base rates and other countries' rates,
 * each a list of dated entries so a scheduled change can be written ahead of time. Built once at
 * boot from the rate files (data/tax/*.json) and TAX_COUNTRY_RATES; immutable afterwards.
 */
export class TaxRateTable {
  private readonly states = new Map<string, { name: string; rates: TaxRateEntry[] }>();
  private readonly countries = new Map<string, TaxRateEntry[]>();

  constructor(states: readonly UsStateRate[], countries: readonly CountryRate[]) {
    for (const row of states) {
      const state = row.state?.toUpperCase();
      if (!STATE_CODE.test(state ?? '') || !DATE.test(row.effective ?? ''))
        throw new Error(
          `U.S. tax rate entry ${JSON.stringify(row)}: needs a 2-letter state and effective YYYY-MM-DD`,
        );
      const entry = this.states.get(state) ?? { name: row.name, rates: [] };
      entry.rates.push({ ratePpm: percentToPpm(row.rate), effective: row.effective });
      this.states.set(state, entry);
    }
    for (const row of countries) {
      const country = row.country?.toUpperCase();
      if (!COUNTRY_CODE.test(country ?? '') || country === 'US')
        throw new Error(
          `country tax rate entry ${JSON.stringify(row)}: needs an ISO 3166-1 alpha-2 code other than US`,
        );
      const effective = row.effective ?? ALWAYS;
      if (!DATE.test(effective))
        throw new Error(`country tax rate entry ${JSON.stringify(row)}: effective must be YYYY-MM-DD`);
      // A later entry with the same date replaces the earlier one (TAX_COUNTRY_RATES over the file).
      const rates = (this.countries.get(country) ?? []).filter((rate) => rate.effective !== effective);
      rates.push({ ratePpm: percentToPpm(row.rate), effective });
      this.countries.set(country, rates);
    }
    for (const { rates } of this.states.values()) rates.sort(byEffective);
    for (const rates of this.countries.values()) rates.sort(byEffective);
  }

  /** Reads the rate files (paths relative to the working directory) and applies the overrides. */
  static load(usRatesFile: string, countryRatesFile: string, countryOverrides: string): TaxRateTable {
    const us = readRates<UsStateRate>(usRatesFile);
    const countries = readRates<CountryRate>(countryRatesFile);
    return new TaxRateTable(us, [...countries, ...parseCountryOverrides(countryOverrides)]);
  }

  isUsState(code: string): boolean {
    return this.states.has(code.toUpperCase());
  }

  /** The state's rate in force on `at`, or null for a code that is no U.S. state (or DC). */
  usStateRate(state: string, at: Date): number | null {
    const entry = this.states.get(state.toUpperCase());
    return entry ? rateOn(entry.rates, at) : null;
  }

  /** The country's rate in force on `at`, or null when the country is not configured. */
  countryRate(country: string, at: Date): number | null {
    const rates = this.countries.get(country.toUpperCase());
    return rates ? rateOn(rates, at) : null;
  }

  get usStateCount(): number {
    return this.states.size;
  }
}

/** "DE:19,GB:20" (TAX_COUNTRY_RATES) to entries that apply from any date. */
export function parseCountryOverrides(value: string): CountryRate[] {
  return value
    .split(',')
    .map((pair) => pair.trim())
    .filter(Boolean)
    .map((pair) => {
      const [country, rate] = pair.split(':');
      return { country: country.toUpperCase(), rate };
    });
}

function readRates<T>(file: string): T[] {
  const doc = JSON.parse(readFileSync(resolve(file), 'utf8')) as { rates?: T[] };
  if (!Array.isArray(doc.rates)) throw new Error(`${file}: expected {"rates": [...]}`);
  return doc.rates;
}

function byEffective(a: TaxRateEntry, b: TaxRateEntry): number {
  return a.effective < b.effective ? -1 : a.effective > b.effective ? 1 : 0;
}

/** The last entry in force on `at` (by its UTC date); null before the first one. */
function rateOn(rates: readonly TaxRateEntry[], at: Date): number | null {
  const day = at.toISOString().slice(0, 10);
  let found: number | null = null;
  for (const rate of rates) if (rate.effective <= day) found = rate.ratePpm;
  return found;
}
