import { ArgumentMetadata, ValidationError, ValidationPipe } from '@nestjs/common';
import { ApiError } from './api-error';
import { findUnstorableText } from './unstorable-text';

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

function validationFailed(details: FieldError[]): ApiError {
  return new ApiError(422, 'validation_failed', details.map((detail) => detail.message).join('; '), {
    errors: details,
  });
}

/**
 * 422 validation_failed naming the first text in `value` (keys too) that Postgres cannot store, as
 * the global pipe answers it; `whole` names `value` itself. For input no pipe sees, e.g. the text
 * parts and file name of a multipart body.
 */
export function refuseUnstorableText(value: unknown, whole: string): void {
  const unstorable = findUnstorableText(value, whole);
  if (unstorable) throw validationFailed([{ ...unstorable, code: 'invalid' }]);
}

/**
 * Also refuses text Postgres cannot store (U+0000, a lone surrogate) anywhere in a DTO body, a
 * query parameter or a path parameter (%00 decodes to U+0000), before any handler runs: such text
 * otherwise fails its INSERT as a 500, after an idempotency entry or a Redis change was written.
 * A body without a DTO class (ingest's usage batch) is left to its own validator.
 */
class StorableTextValidationPipe extends ValidationPipe {
  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    const checked = metadata.type === 'body' ? this.toValidate(metadata) : metadata.type !== 'custom';
    if (checked) refuseUnstorableText(value, metadata.data ?? metadata.type);
    return super.transform(value, metadata);
  }
}

/** DTO validation for admin routes: unknown fields refused, errors as 422 with a list per field. */
export function createValidationPipe(): ValidationPipe {
  return new StorableTextValidationPipe({
    whitelist: true,
    forbidNonWhitelisted: true,
    transform: true,
    exceptionFactory: (errors) => validationFailed(flatten(errors)),
  });
}
