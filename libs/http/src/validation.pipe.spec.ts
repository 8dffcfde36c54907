import { Type } from 'class-transformer';
import { IsEmail, IsOptional, IsString, Length, ValidateNested } from 'class-validator';
import { ArgumentMetadata } from '@nestjs/common';
import { ApiError } from './api-error';
import { createValidationPipe, refuseUnstorableText } from './validation.pipe';

class GrantBody {
  @IsString()
  @Length(1, 500)
  reason!: string;

  @IsOptional()
  @IsEmail()
  email?: string;
}

class Line {
  @IsString()
  description!: string;
}

class InvoiceBody {
  @ValidateNested({ each: true })
  @Type(() => Line)
  lines!: Line[];
}

async function errorsFor(body: unknown, metadata: ArgumentMetadata = { type: 'body', metatype: GrantBody }) {
  const pipe = createValidationPipe();
  try {
    await pipe.transform(body, metadata);
  } catch (error) {
    if (!(error instanceof ApiError)) throw error;
    expect(error.getStatus()).toBe(422);
    return error.getResponse();
  }
  throw new Error('accepted');
}

describe('createValidationPipe', () => {
  it('names a missing field once as required, not every rule it fails', async () => {
    expect(await errorsFor({})).toEqual({
      error: { code: 'validation_failed', message: 'reason is required' },
      errors: [{ field: 'reason', code: 'required', message: 'reason is required' }],
    });
  });

  it('lists each broken rule of a field that is present but wrong, null included', async () => {
    const body = (await errorsFor({ reason: null })) as { errors: { field: string; code: string }[] };
    expect(body.errors.length).toBeGreaterThan(1);
    expect(body.errors.every((error) => error.field === 'reason' && error.code === 'invalid')).toBe(true);
  });

  it('checks an optional field only when it is sent, and refuses unknown fields', async () => {
    expect(await errorsFor({ reason: 'promo', email: 'nope', extra: 1 })).toEqual({
      error: { code: 'validation_failed', message: expect.any(String) },
      errors: [
        { field: 'extra', code: 'unknown_field', message: 'property extra should not exist' },
        { field: 'email', code: 'invalid', message: 'email must be an email' },
      ],
    });
    await expect(
      createValidationPipe().transform({ reason: 'promo' }, { type: 'body', metatype: GrantBody }),
    ).resolves.toEqual(expect.objectContaining({ reason: 'promo' }));
  });

  describe('text Postgres cannot store', () => {
    const refusal = (field: string, problem: string) => ({
      error: { code: 'validation_failed', message: `${field} ${problem}` },
      errors: [{ field, code: 'invalid', message: `${field} ${problem}` }],
    });
    const NUL_PROBLEM = 'contains U+0000 (NUL), which Postgres cannot store';

    it('names a field holding U+0000 or a lone surrogate, nested ones by their path', async () => {
      expect(await errorsFor({ reason: 'a\u0000' })).toEqual(refusal('reason', NUL_PROBLEM));
      expect(
        await errorsFor(
          { lines: [{ description: 'ok' }, { description: '\udc00' }] },
          { type: 'body', metatype: InvoiceBody },
        ),
      ).toEqual(refusal('lines.1.description', 'contains a lone surrogate (not well-formed UTF-16)'));
    });

    it('refuses such text in a key, and in query and path parameters', async () => {
      expect(await errorsFor({ reason: 'ok', 'x\u0000': 1 })).toEqual(
        refusal('body', `has a key that ${NUL_PROBLEM}`),
      );
      expect(await errorsFor('a\u0000', { type: 'query', metatype: String, data: 'action' })).toEqual(
        refusal('action', NUL_PROBLEM),
      );
      expect(await errorsFor({ model: 'a\u0000' }, { type: 'query', metatype: Object })).toEqual(
        refusal('model', NUL_PROBLEM),
      );
      expect(await errorsFor('pm_\u0000', { type: 'param', metatype: String, data: 'cardId' })).toEqual(
        refusal('cardId', NUL_PROBLEM),
      );
    });

    it('answers the same 422 through refuseUnstorableText, for input no pipe sees', () => {
      let refused: unknown;
      try {
        refuseUnstorableText({ file: { filename: 'cert\u0000.pdf' } }, 'body');
      } catch (error) {
        refused = error instanceof ApiError ? error.getResponse() : error;
      }
      expect(refused).toEqual(refusal('file.filename', NUL_PROBLEM));
      expect(() => refuseUnstorableText({ note: 'état de NY' }, 'body')).not.toThrow();
    });
  });
});
