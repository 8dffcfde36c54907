import { ValidationError, ValidationPipe } from '@nestjs/common';
import { ApiError } from './api-error';

interface FieldError {
  field: string;
  code: string;
  message: string;
}

function flatten(errors: ValidationError[], parent = ''): FieldError[] {
  return errors.flatMap((error) => {
    const field = parent ? `${parent}.${error.property}` : error.property;
    // A missing field fails every rule it has ("must be a string; longer than 1; shorter than 500"):
    // say once that it is required. Optional fields are skipped when absent, so this is never one.
    if (error.value === undefined && error.constraints)
      return [{ field, code: 'required', message: `${field} is required` }];
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
