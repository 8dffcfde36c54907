import { BaseEnv } from '@app/config';
import { ApiError } from '@app/http';
import { CsvExportSlots } from './csv-export-slots';

describe('CsvExportSlots', () => {
  const slotsFor = (pool: number) => new CsvExportSlots({ DATABASE_POOL_SIZE: pool } as BaseEnv);

  it('gives half the connection pool to exports, at least one', () => {
    expect(slotsFor(10).limit).toBe(5);
    expect(slotsFor(1).limit).toBe(1);
  });

  it('refuses a download beyond the limit with 503 exports_busy until a slot is released', () => {
    const sut = slotsFor(4);
    const first = sut.take();
    sut.take();
    expect(() => sut.take()).toThrow(ApiError);
    try {
      sut.take();
    } catch (error) {
      expect((error as ApiError).code).toBe('exports_busy');
      expect((error as ApiError).getStatus()).toBe(503);
    }
    first();
    first(); // releasing twice frees one slot only
    expect(() => sut.take()).not.toThrow();
    expect(() => sut.take()).toThrow(ApiError);
  });
});
