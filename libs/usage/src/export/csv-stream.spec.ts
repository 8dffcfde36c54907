import { parse } from 'csv-parse';
import { Readable } from 'node:stream';
import { CsvColumn, openCsvStream } from './csv-stream';

interface Row {
  id: string;
  text: string | null;
  n: number;
}

const columns: CsvColumn<Row>[] = [
  { header: 'id', value: (row) => row.id },
  { header: 'text', value: (row) => row.text },
  { header: 'n', value: (row) => row.n },
];

async function text(stream: Readable): Promise<string> {
  let out = '';
  for await (const chunk of stream) out += String(chunk);
  return out;
}

function parsed(csv: string): Promise<string[][]> {
  return new Promise((resolve, reject) =>
    parse(csv, {}, (error, records: string[][]) => (error ? reject(error) : resolve(records))),
  );
}

async function* batches<T>(...lists: T[][]): AsyncGenerator<T[]> {
  for (const list of lists) yield list;
}

describe('openCsvStream', () => {
  it('writes a header and CRLF-terminated records (RFC 4180)', async () => {
    const sut = await openCsvStream(columns, batches([{ id: 'a', text: 'plain', n: 1 }]));
    expect(await text(sut)).toBe('id,text,n\r\na,plain,1\r\n');
  });

  it('quotes commas, quotes and line breaks so they parse back unchanged', async () => {
    const awkward = ['a, b', 'say "hi"', 'two\nlines', 'cr\r\nlf', ' padded ', '=1+1', 'ünï©ødé'];
    const rows = awkward.map((value, i) => ({ id: `r${i}`, text: value, n: i }));
    const csv = await text(await openCsvStream(columns, batches(rows.slice(0, 3), rows.slice(3))));
    expect(csv).toContain('"say ""hi"""');
    expect(await parsed(csv)).toEqual([
      ['id', 'text', 'n'],
      ...rows.map((row) => [row.id, row.text, String(row.n)]),
    ]);
  });

  it('writes null as an empty field', async () => {
    const csv = await text(await openCsvStream(columns, batches([{ id: 'a', text: null, n: 0 }])));
    expect(csv).toBe('id,text,n\r\na,,0\r\n');
  });

  it('is only a header when there are no rows', async () => {
    expect(await text(await openCsvStream(columns, batches<Row>()))).toBe('id,text,n\r\n');
  });

  it('rejects before sending anything when the first batch fails', async () => {
    const failing: AsyncIterable<Row[]> = {
      [Symbol.asyncIterator]: () => ({ next: () => Promise.reject(new Error('relation does not exist')) }),
    };
    await expect(openCsvStream(columns, failing)).rejects.toThrow('relation does not exist');
  });

  it('fails the stream when a later batch fails', async () => {
    async function* failsLater(): AsyncGenerator<Row[]> {
      yield [{ id: 'a', text: 'x', n: 1 }];
      throw new Error('connection lost');
    }
    await expect(text(await openCsvStream(columns, failsLater()))).rejects.toThrow('connection lost');
  });

  it('cuts a download whose reader stops reading, and closes the source', async () => {
    let closed = false;
    async function* endless(): AsyncGenerator<Row[]> {
      try {
        for (;;) yield Array.from({ length: 1000 }, (_, i) => ({ id: `${i}`, text: 'x'.repeat(50), n: i }));
      } finally {
        closed = true;
      }
    }
    const sut = await openCsvStream(columns, endless(), 50);
    const failed = new Promise<Error>((resolve) => sut.once('error', resolve));
    sut.read(); // one read, then the client goes quiet without disconnecting
    expect((await failed).message).toMatch(/read nothing for 50 ms/);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(closed).toBe(true);
  });

  it('does not cut a slow source while the reader keeps reading', async () => {
    async function* slow(): AsyncGenerator<Row[]> {
      for (let i = 0; i < 3; i++) {
        await new Promise((resolve) => setTimeout(resolve, 60));
        yield [{ id: `${i}`, text: 'x', n: i }];
      }
    }
    const csv = await text(await openCsvStream(columns, slow(), 30));
    expect(csv.split('\r\n')).toHaveLength(5);
  });

  it('reads only as far as the reader asks and closes the source when the reader leaves', async () => {
    let fetched = 0;
    let closed = false;
    async function* endless(): AsyncGenerator<Row[]> {
      try {
        for (;;) {
          fetched++;
          yield Array.from({ length: 1000 }, (_, i) => ({
            id: `${fetched}-${i}`,
            text: 'x'.repeat(50),
            n: i,
          }));
        }
      } finally {
        closed = true;
      }
    }
    const sut = await openCsvStream(columns, endless());
    for await (const chunk of sut) {
      expect(chunk).toBeDefined();
      break; // the client went away
    }
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(closed).toBe(true);
    expect(fetched).toBeLessThan(10);
  });
});
