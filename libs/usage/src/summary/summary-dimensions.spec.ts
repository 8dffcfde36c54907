import { ApiError } from '@app/http';
import { summaryDimensionsQuery } from './summary-dimensions';

function errorOf(value: string): { status: number; code: string; message: string } {
  try {
    summaryDimensionsQuery(value);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    const body = error.getResponse() as { error: { code: string; message: string } };
    return { status: error.getStatus(), ...body.error };
  }
  throw new Error(`group_by=${value} was accepted`);
}

describe('summaryDimensionsQuery', () => {
  it('sums per day when group_by is absent or empty', () => {
    expect(summaryDimensionsQuery(undefined)).toEqual(['day']);
    expect(summaryDimensionsQuery('')).toEqual(['day']);
  });

  it('keeps the canonical order whatever order the caller names them in', () => {
    expect(summaryDimensionsQuery('project,day')).toEqual(['day', 'project']);
    expect(summaryDimensionsQuery(' api_key , model ')).toEqual(['model', 'api_key']);
    expect(summaryDimensionsQuery('project,api_key,model,day')).toEqual([
      'day',
      'model',
      'api_key',
      'project',
    ]);
  });

  it('names the unknown dimensions in a 422', () => {
    expect(errorOf('day,hour,key')).toEqual({
      status: 422,
      code: 'validation_failed',
      message:
        'group_by must be distinct names from day, model, api_key, project, comma-separated (unknown: "hour", "key")',
    });
  });

  it('refuses a repeated dimension and an empty name between commas', () => {
    expect(errorOf('model,model').message).toContain('(a name is repeated)');
    expect(errorOf('day,,model').message).toContain('(unknown: "")');
  });
});
