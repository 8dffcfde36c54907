import { ApiError, isRedisUnavailable, redisUnavailable, RequireScope } from '@app/http';
import { BillingMetrics } from '@app/metrics';
import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { IngestResult, IngestUsageService, QueueFullError } from '../ingest-usage.service';
import { usageBatchSchema } from '../usage-batch.schema';
import { UsageValidationError } from '../validation-error';

@ApiTags('gateway')
@ApiBearerAuth()
@RequireScope('gateway')
@Controller('v1/usage/events')
export class UsageEventsController {
  constructor(
    private readonly ingestUsage: IngestUsageService,
    private readonly metrics: BillingMetrics,
  ) {}

  @Post()
  @HttpCode(202)
  @ApiOperation({
    summary: 'Push a batch of 1 to 1,000 usage events (at most 1 MiB)',
    description:
      'All or nothing: one invalid event rejects the request with 422 and nothing is enqueued. ' +
      'Event ids are idempotent per account: resending accepted events (e.g. after a timeout) counts them as duplicates and never charges twice.',
  })
  @ApiBody({ schema: usageBatchSchema as object })
  @ApiResponse({ status: 202, description: '{accepted, duplicates}' })
  @ApiResponse({
    status: 408,
    description:
      'request_timeout: the request did not arrive whole within INGEST_REQUEST_TIMEOUT_MS; resend it',
  })
  @ApiResponse({ status: 413, description: 'body over 1 MiB' })
  @ApiResponse({ status: 415, description: 'unsupported_media_type: send Content-Type: application/json' })
  @ApiResponse({ status: 422, description: '{errors: [{index, field, code, message}]}' })
  @ApiResponse({
    status: 503,
    description:
      'queue over its limit (queue_full), or request bodies in flight over their budget (overloaded); Retry-After says when to retry',
  })
  async ingest(@Body() body: unknown): Promise<IngestResult> {
    const timer = this.metrics.ingestDuration.startTimer();
    try {
      const result = await this.ingestUsage.ingest(body);
      this.metrics.ingestRequests.inc({ status: '202' });
      return result;
    } catch (error) {
      const apiError = toApiError(error);
      this.metrics.ingestRequests.inc({ status: apiError ? String(apiError.getStatus()) : '500' });
      throw apiError ?? error;
    } finally {
      timer();
    }
  }
}

function toApiError(error: unknown): ApiError | null {
  if (error instanceof ApiError) return error;
  if (error instanceof UsageValidationError) {
    return new ApiError(422, 'invalid_events', error.message, { errors: error.errors });
  }
  if (error instanceof QueueFullError) {
    return new ApiError(
      503,
      'queue_full',
      error.message,
      {},
      { 'Retry-After': String(error.retryAfterSeconds) },
    );
  }
  if (isRedisUnavailable(error)) {
    // Nothing was enqueued (or the gateway's retry is deduplicated): ask it to retry shortly.
    return redisUnavailable('the usage queue is unreachable; retry later');
  }
  return null;
}
