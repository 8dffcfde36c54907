import { IsEmail, IsOptional, IsString, Length } from 'class-validator';
import { ApiError } from './api-error';
import { createValidationPipe } from './validation.pipe';

class GrantBody {
  @IsString()
  @Length(1, 500)
  reason!: string;

  @IsOptional()
  @IsEmail()
  email?: string;
}

async function errorsFor(body: unknown): Promise<unknown> {
  const pipe = createValidationPipe();
  try {
    await pipe.transform(body, { type: 'body', metatype: GrantBody });
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
});
