import { HttpException } from '@nestjs/common';

/**
 * An error with a stable machine-readable code. Every error response has the shape
 * {"error": {"code", "message"}} plus optional extra fields (e.g. `errors` for 422s).
 */
export class ApiError extends HttpException {
  constructor(
    status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super({ error: { code, message }, ...extra }, status);
  }
}
