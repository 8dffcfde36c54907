import postgres from 'postgres';
import { dictionaryColumn, integerArrayLiteral, textArrayLiteral } from './array-literal';

/** The literals go through a real Postgres parser: what comes back must be exactly what went in. */
describe('array literals', () => {
  const sql = postgres(process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres', { max: 1 });
  afterAll(() => sql.end());

  it('keeps every printable-ASCII id, quotes, backslashes, NULL-looking text and real nulls', async () => {
    const values = [
      'evt-1',
      'NULL',
      'null',
      '',
      'a,b',
      '{x}',
      'say "hi"',
      'back\\slash',
      '\\"',
      ' spaced ',
      'ü',
      null,
    ];
    // Row by row: postgres.js reads a NULL element of a text[] result as the string "NULL".
    const rows = await sql<{ v: string | null }[]>`
      select v from unnest(${textArrayLiteral(values)}::text[]) with ordinality as u(v, n) order by n`;
    expect(rows.map((row) => row.v)).toEqual(values);
  });

  it('keeps integers and bigints beyond 2^53 exact', async () => {
    const values = [0, -1, 2_147_483_647, 9_007_199_254_740_993n, -9_223_372_036_854_775_808n];
    const [row] = await sql<{ v: string[] }[]>`select ${integerArrayLiteral(values)}::bigint[]::text[] as v`;
    expect(row.v).toEqual(values.map(String));
  });

  it('sends a repeated column as distinct values and positions that give back every row', async () => {
    const values = ['b', 'a', 'b', null, 'NULL', 'a', 'say "hi"', 'back\\slash', null, 'ü', 'b'];
    const column = dictionaryColumn(values, (distinct) => distinct);
    expect(column.positions).toBe('{1,2,1,NULL,3,2,4,5,NULL,6,1}');
    // As the usage insert reads it: the element of a JSON array by its position, in row order.
    const rows = await sql<{ v: string | null }[]>`
      select ${sql.json(column.distinct)} ->> (position - 1) as v
      from unnest(${column.positions}::int[]) with ordinality as r(position, n) order by n`;
    expect(rows.map((row) => row.v)).toEqual(values);
  });

  it('sends repeated integers by position, read back by subscript', async () => {
    const values = [1_733_390_000_123, 1_733_390_000_123, 1_733_390_001_000, 9_007_199_254_740_993n];
    const column = dictionaryColumn(values, integerArrayLiteral);
    const rows = await sql<{ v: string }[]>`
      select ((${column.distinct}::bigint[])[position])::text as v
      from unnest(${column.positions}::int[]) with ordinality as r(position, n) order by n`;
    expect(rows.map((row) => row.v)).toEqual(values.map(String));
  });

  it('makes empty arrays', async () => {
    const [row] = await sql<{ t: string[]; i: string[] }[]>`
      select ${textArrayLiteral([])}::text[] as t, ${integerArrayLiteral([])}::int[] as i`;
    expect(row).toEqual({ t: [], i: [] });
  });
});
