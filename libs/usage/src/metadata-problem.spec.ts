import { MAX_METADATA_DEPTH, metadataProblem } from './metadata-problem';

/** `levels` objects and arrays nested inside each other, the outermost an object. */
function nested(levels: number): object {
  let value: unknown = 'leaf';
  for (let level = 1; level < levels; level++) value = level % 2 ? [value] : { inner: value };
  return { outer: value };
}

describe('metadataProblem', () => {
  it('accepts what jsonb stores: any depth up to the limit, surrogate pairs, escapes as text', () => {
    expect(metadataProblem({})).toBeNull();
    expect(metadataProblem(nested(MAX_METADATA_DEPTH))).toBeNull();
    expect(
      metadataProblem({ emoji: '😀', '😀': [1, null, true, { path: 'C:\\u0000' }], ok: 'a\u00a0b' }),
    ).toBeNull();
  });

  it('finds U+0000 in a value or a key at any depth', () => {
    expect(metadataProblem({ note: 'a\u0000b' })).toMatch(/^a string value contains U\+0000/);
    expect(metadataProblem({ a: [{ b: ['ok', '\u0000'] }] })).toMatch(/^a string value contains U\+0000/);
    expect(metadataProblem({ a: { 'k\u0000': 1 } })).toMatch(/^a key contains U\+0000/);
  });

  it('finds a lone high or low surrogate in a value or a key at any depth', () => {
    expect(metadataProblem({ note: '\ud800' })).toMatch(/^a string value contains a lone surrogate/);
    expect(metadataProblem({ a: [[['x\udc00y']]] })).toMatch(/lone surrogate/);
    expect(metadataProblem({ a: { '\ud83d': 1 } })).toMatch(/^a key contains a lone surrogate/);
  });

  it('refuses nesting past the limit, without recursion even a million levels deep', () => {
    expect(metadataProblem(nested(MAX_METADATA_DEPTH + 1))).toMatch(/more than 32 levels deep/);
    const deep = JSON.parse(`{"a":${'['.repeat(1_000_000)}${']'.repeat(1_000_000)}}`) as object;
    expect(metadataProblem(deep)).toMatch(/more than 32 levels deep/);
  });
});
