/**
 * Text formatting for invoice PDFs. Locale-free on purpose (no Intl): the same row must give the
 * same bytes on every machine and Node build.
 */
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** "Nov 27, 2026" from a timestamp (UTC) or a YYYY-MM-DD date. */
export function formatInvoiceDate(value: Date | string): string {
  const [year, month, day] =
    typeof value === 'string'
      ? value.split('-').map(Number)
      : [value.getUTCFullYear(), value.getUTCMonth() + 1, value.getUTCDate()];
  return `${MONTHS[month - 1]} ${day}, ${year}`;
}

function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/**
 * "$1,234.50" from micros. Invoice amounts are whole cents (the issuer checks); a finer amount
 * is printed exactly with up to six decimals rather than rounded here.
 */
export function formatMoney(micros: bigint, currency: string): string {
  const negative = micros < 0n;
  const abs = negative ? -micros : micros;
  const whole = groupThousands((abs / 1_000_000n).toString());
  let fraction = (abs % 1_000_000n).toString().padStart(6, '0').replace(/0+$/, '');
  fraction = fraction.padEnd(2, '0');
  const symbol = currency.toLowerCase() === 'usd' ? '$' : `${currency.toUpperCase()} `;
  return `${negative ? '-' : ''}${symbol}${whole}.${fraction}`;
}

export function formatQuantity(quantity: bigint): string {
  return groupThousands(quantity.toString());
}

/** 72500 ppm -> "7.25%". */
export function formatRatePpm(ppm: number): string {
  const whole = Math.floor(ppm / 10_000);
  const fraction = String(ppm % 10_000)
    .padStart(4, '0')
    .replace(/0+$/, '');
  return `${whole}${fraction ? `.${fraction}` : ''}%`;
}

/**
 * Country names for the bill-to block. A fixed table rather than Intl.DisplayNames, whose text
 * depends on the Node build's ICU data; a code not listed is printed as the code.
 */
const COUNTRIES: Record<string, string> = {
  US: 'United States',
  CA: 'Canada',
  MX: 'Mexico',
  GB: 'United Kingdom',
  IE: 'Ireland',
  DE: 'Germany',
  FR: 'France',
  NL: 'Netherlands',
  BE: 'Belgium',
  ES: 'Spain',
  IT: 'Italy',
  PT: 'Portugal',
  AT: 'Austria',
  CH: 'Switzerland',
  SE: 'Sweden',
  NO: 'Norway',
  DK: 'Denmark',
  FI: 'Finland',
  PL: 'Poland',
  AU: 'Australia',
  NZ: 'New Zealand',
  JP: 'Japan',
  KR: 'South Korea',
  SG: 'Singapore',
  IN: 'India',
  BR: 'Brazil',
  IL: 'Israel',
  AE: 'United Arab Emirates',
};

export function countryName(code: string): string {
  return COUNTRIES[code.toUpperCase()] ?? code;
}

const BRANDS: Record<string, string> = {
  visa: 'Visa',
  mastercard: 'Mastercard',
  amex: 'American Express',
  discover: 'Discover',
  diners: 'Diners Club',
  jcb: 'JCB',
  unionpay: 'UnionPay',
};

/** "Visa •••• 4242", as stored on the invoice at purchase time (kept after the card is removed). */
export function formatPaymentMethod(brand: string | null, last4: string | null): string | null {
  if (!brand && !last4) return null;
  const name = brand
    ? (BRANDS[brand.toLowerCase()] ?? brand.charAt(0).toUpperCase() + brand.slice(1))
    : 'Card';
  return last4 ? `${name} \u2022\u2022\u2022\u2022 ${last4}` : name;
}

/** Whole days from one YYYY-MM-DD (or timestamp's UTC day) to another. */
export function daysBetween(from: Date | string, to: string): number {
  const start =
    typeof from === 'string'
      ? Date.parse(`${from}T00:00:00Z`)
      : Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate());
  return Math.round((Date.parse(`${to}T00:00:00Z`) - start) / 86_400_000);
}
