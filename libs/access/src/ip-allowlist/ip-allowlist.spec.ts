import { IpAllowlist, normalizeCidrs } from './ip-allowlist';

describe('normalizeCidrs', () => {
  it('clears host bits below the prefix', () => {
    expect(normalizeCidrs(['10.1.2.3/8', '192.168.7.9/24'])).toEqual({
      cidrs: ['10.0.0.0/8', '192.168.7.0/24'],
    });
  });

  it('writes IPv6 ranges in lowercase compressed form', () => {
    expect(normalizeCidrs(['2001:DB8::1/32', '2001:0db8:0000:0000:0000:0000:0000:0001/64'])).toEqual({
      cidrs: ['2001:db8::/32', '2001:db8::/64'],
    });
  });

  it('makes a bare address a single host', () => {
    expect(normalizeCidrs(['203.0.113.7', '::1', ' 127.0.0.1 '])).toEqual({
      cidrs: ['203.0.113.7/32', '::1/128', '127.0.0.1/32'],
    });
  });

  it('treats an IPv4-mapped IPv6 address or range as IPv4', () => {
    expect(normalizeCidrs(['::ffff:10.0.0.1', '::FFFF:a00:1/120', '::ffff:0:0/96'])).toEqual({
      cidrs: ['10.0.0.1/32', '10.0.0.0/24', '0.0.0.0/0'],
    });
  });

  it('drops duplicates and keeps the first order', () => {
    expect(normalizeCidrs(['10.0.0.5/8', '::1', '10.0.0.0/8', '::ffff:127.0.0.1', '127.0.0.1/32'])).toEqual({
      cidrs: ['10.0.0.0/8', '::1/128', '127.0.0.1/32'],
    });
  });

  it('reports every invalid entry with its index', () => {
    const entries = ['10.0.0.0/8', '10.0.0.256', '10.0.0.0/33', '2001:db8::/129', 'example.com', '', '10.1'];
    expect(normalizeCidrs(entries)).toEqual({
      errors: [
        { index: 1, value: '10.0.0.256', message: 'not an IP address or CIDR range' },
        { index: 2, value: '10.0.0.0/33', message: 'prefix length must be at most 32' },
        { index: 3, value: '2001:db8::/129', message: 'prefix length must be at most 128' },
        { index: 4, value: 'example.com', message: 'not an IP address or CIDR range' },
        { index: 5, value: '', message: 'not an IP address or CIDR range' },
        { index: 6, value: '10.1', message: 'not an IP address or CIDR range' },
      ],
    });
  });

  it('rejects shorthand, octal, hex, zone ids and malformed prefixes', () => {
    const entries = [
      '010.0.0.1',
      '0x0a.0.0.1',
      '167772161',
      'fe80::1%eth0',
      '10.0.0.0/',
      '10.0.0.0/-1',
      '1:::2',
    ];
    const result = normalizeCidrs(entries);
    expect('errors' in result && result.errors.map((e) => e.index)).toEqual([0, 1, 2, 3, 4, 5, 6]);
  });

  it('accepts 100 entries and refuses 101', () => {
    const hosts = Array.from({ length: 101 }, (_, i) => `10.0.${i}.1`);
    expect(normalizeCidrs(hosts.slice(0, 100))).toMatchObject({ cidrs: expect.any(Array) });
    expect(normalizeCidrs(hosts)).toEqual({
      errors: [{ index: 100, value: '10.0.100.1', message: 'at most 100 entries are allowed' }],
    });
  });
});

describe('IpAllowlist', () => {
  const sut = IpAllowlist.compile([
    '10.0.0.0/8',
    '203.0.113.7/32',
    '2001:db8::/32',
    '::1/128',
    '127.0.0.1/32',
  ]);

  it('lets every address in when the list is empty', () => {
    const open = IpAllowlist.compile([]);
    expect(open.isOpen).toBe(true);
    expect(open.allows('198.51.100.1')).toBe(true);
    expect(open.allows('2001:db8::1')).toBe(true);
  });

  it('is not open once it has a range', () => {
    expect(sut.isOpen).toBe(false);
  });

  it('allows IPv4 addresses inside a range', () => {
    expect(sut.allows('10.0.0.0')).toBe(true);
    expect(sut.allows('10.255.255.255')).toBe(true);
    expect(sut.allows('203.0.113.7')).toBe(true);
  });

  it('refuses IPv4 addresses outside every range', () => {
    expect(sut.allows('11.0.0.0')).toBe(false);
    expect(sut.allows('203.0.113.8')).toBe(false);
    expect(sut.allows('127.0.0.2')).toBe(false);
  });

  it('allows IPv6 addresses inside a range and refuses those outside', () => {
    expect(sut.allows('2001:db8::1')).toBe(true);
    expect(sut.allows('2001:DB8:FFFF:FFFF::1')).toBe(true);
    expect(sut.allows('2001:db9::1')).toBe(false);
    expect(sut.allows('fe80::1%eth0')).toBe(false);
  });

  it('matches the loopback of each family', () => {
    expect(sut.allows('::1')).toBe(true);
    expect(sut.allows('127.0.0.1')).toBe(true);
    expect(sut.allows('::2')).toBe(false);
  });

  it('matches IPv4-mapped client addresses against IPv4 ranges', () => {
    expect(sut.allows('::ffff:127.0.0.1')).toBe(true);
    expect(sut.allows('::ffff:10.20.30.40')).toBe(true);
    expect(sut.allows('::ffff:192.0.2.1')).toBe(false);
  });

  it('refuses an address it cannot parse', () => {
    for (const ip of [
      '',
      'unknown',
      '10.0.0',
      '10.0.0.256',
      '010.0.0.1',
      '10.0.0.1, 10.0.0.2',
      '2001:db8::g',
    ]) {
      expect(sut.allows(ip)).toBe(false);
    }
  });

  it('matches a link-local client whatever its zone', () => {
    expect(IpAllowlist.compile(['fe80::/10']).allows('fe80::1%eth0')).toBe(true);
  });

  it('refuses to compile an invalid entry rather than leave the list open', () => {
    expect(() => IpAllowlist.compile(['not-an-ip'])).toThrow("Invalid allowlist entry 'not-an-ip'");
  });
});
