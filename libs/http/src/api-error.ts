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
    /**
     * For a 5xx: what the error filter logs instead of the stack, naming the cause an operator
     * must see (never sent to the client, never a secret).
     */
    readonly logDetail?: string,
  ) {
    super({ error: { code, message }, ...extra }, status);
  }
}
