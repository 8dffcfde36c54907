import { ArgumentMetadata, Injectable, ParseUUIDPipe, PipeTransform } from '@nestjs/common';
import { ApiError } from './api-error';

/**
 * A UUID path parameter in its lowercase form (the form Postgres and the caches use); anything
 * that is not a UUID is answered like an unknown id: 404 with `code`.
 */
@Injectable()
export class UuidParam implements PipeTransform<string, Promise<string>> {
  private readonly pipe: ParseUUIDPipe;

  constructor(code = 'account_not_found', message = 'no such account') {
    this.pipe = new ParseUUIDPipe({ exceptionFactory: () => new ApiError(404, code, message) });
  }

  async transform(value: string, metadata: ArgumentMetadata): Promise<string> {
    return (await this.pipe.transform(value, metadata)).toLowerCase();
  }
}

/** The `:id` of account routes. */
export const AccountIdParam = new UuidParam();
