import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Range<T extends Address = Address> = [network: T, prefixLength: number];

export interface CidrError {
  index: number;
  value: string;
  message: string;
}

const MAX_ENTRIES = 100;
const INVALID = 'not an IP address or CIDR range';

/**
 * Parses an address in its plain written form only. ipaddr.js also reads '10.1', '0x0a.0.0.1' and
 * octal '010.0.0.1' (which is 8.0.0.1); in an allowlist such forms are more likely typos than intent.
 */
function parseAddress(text: string): Address | undefined {
  if (text.includes(':')) {
    // A zone id ('fe80::1%eth0') names a local interface, which means nothing in a shared allowlist.
    if (text.includes('%') || !ipaddr.IPv6.isValid(text)) return undefined;
    const tail = text.slice(text.lastIndexOf(':') + 1);
    if (tail.includes('.') && !ipaddr.IPv4.isValidFourPartDecimal(tail)) return undefined;
    return ipaddr.IPv6.parse(text);
  }
  return ipaddr.IPv4.isValidFourPartDecimal(text) ? ipaddr.IPv4.parse(text) : undefined;
}

/** An IPv4-mapped IPv6 address ('::ffff:10.0.0.1') is the IPv4 host it wraps. */
function unmap(address: Address): Address {
  return address instanceof ipaddr.IPv6 && address.isIPv4MappedAddress() ? address.toIPv4Address() : address;
}

/** A bare address is a single host (/32 or /128); host bits below the prefix are cleared. */
function parseRange(entry: string): Range | string {
  const match = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(entry.trim());
  const written = match ? parseAddress(match[1]) : undefined;
  if (!match || !written) return INVALID;
  const max = written.kind() === 'ipv4' ? 32 : 128;
  const bits = match[2] === undefined ? max : Number(match[2]);
  if (bits > max) return `prefix length must be at most ${max}`;

  // Only a prefix within the mapped block (/96 or longer) is a range of IPv4 hosts.
  const address = bits >= 96 ? unmap(written) : written;
  const prefixLength = address === written ? bits : bits - 96;
  const kind = address.kind() === 'ipv4' ? ipaddr.IPv4 : ipaddr.IPv6;
  const mask = kind.subnetMaskFromPrefixLength(prefixLength).toByteArray();
  const network = ipaddr.fromByteArray(address.toByteArray().map((byte, i) => byte & mask[i]));
  return [network, prefixLength];
}

function format([network, prefixLength]: Range): string {
  return `${network.toString()}/${prefixLength}`;
}

/**
 * Checks and normalises allowlist entries as an account owner typed them: IPv4/IPv6 addresses or
 * CIDR ranges become '<network address>/<prefix>', duplicates dropped, order kept.
 */
export function normalizeCidrs(entries: string[]): { cidrs: string[] } | { errors: CidrError[] } {
  if (entries.length > MAX_ENTRIES) {
    const message = `at most ${MAX_ENTRIES} entries are allowed`;
    return { errors: [{ index: MAX_ENTRIES, value: String(entries[MAX_ENTRIES]), message }] };
  }
  const cidrs = new Set<string>();
  const errors: CidrError[] = [];
  entries.forEach((value, index) => {
    const range = typeof value === 'string' ? parseRange(value) : INVALID;
    if (typeof range === 'string') errors.push({ index, value: String(value), message: range });
    else cidrs.add(format(range));
  });
  return errors.length > 0 ? { errors } : { cidrs: [...cidrs] };
}

/** An account's IP allowlist, parsed once; an empty list lets every address in. */
export class IpAllowlist {
  private constructor(
    private readonly v4: Range<ipaddr.IPv4>[],
    private readonly v6: Range<ipaddr.IPv6>[],
  ) {}

  /** Throws on an entry normalizeCidrs would reject: skipping it could leave the list open. */
  static compile(cidrs: string[]): IpAllowlist {
    const v4: Range<ipaddr.IPv4>[] = [];
    const v6: Range<ipaddr.IPv6>[] = [];
    for (const cidr of cidrs) {
      const range = parseRange(cidr);
      if (typeof range === 'string') throw new Error(`Invalid allowlist entry '${cidr}': ${range}`);
      const [network, prefixLength] = range;
      if (network instanceof ipaddr.IPv4) v4.push([network, prefixLength]);
      else v6.push([network as ipaddr.IPv6, prefixLength]);
    }
    return new IpAllowlist(v4, v6);
  }

  get isOpen(): boolean {
    return this.v4.length === 0 && this.v6.length === 0;
  }

  /** Node reports IPv4 clients of a dual-stack socket as '::ffff:a.b.c.d'; those match IPv4 ranges. */
  allows(ip: string): boolean {
    if (this.isOpen) return true;
    if (typeof ip !== 'string') return false;
    // The zone of a link-local client address does not change which host it is.
    const zone = ip.indexOf('%');
    const parsed = parseAddress(zone === -1 ? ip : ip.slice(0, zone));
    if (!parsed) return false;
    const address = unmap(parsed);
    if (address instanceof ipaddr.IPv4) return this.v4.some((range) => address.match(range));
    return this.v6.some((range) => address.match(range));
  }
}
