import { ValidationError, ValidationPipe } from '@nestjs/common';
import { ApiError } from './api-error';

function flatten(errors: ValidationError[], parent = ''): { field: string; code: string; message: string }[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    const own = Object.entries(error.constraints ?? {}).map(([constraint, message]) => ({
      field,
      code: constraint === 'whitelistValidation' ? 'unknown_field' : 'invalid',
      message,
    }));
    return [...own, ...flatten(error.children ?? [], field)];
  });
}

/** DTO validation for admin routes: unknown fields refused, errors as 422 with a list per field. */
export function createValidationPipe(): ValidationPipe {
  return new ValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    exceptionFactory: (errors) => {
      const details = flatten(errors);
      return new ApiError(422, 'validation_failed', details.map((detail) => detail.message).join('; '), {
        errors: details,
      });
    },
  });
}
