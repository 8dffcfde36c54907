import { CatalogCache } from '@app/catalog';
import { InvalidCursorError } from '@app/db';
import {
  AccountIdParam,
  AccountRoute,
  GatewayReadable,
  ApiError,
  instantQuery,
  pageLimitQuery,
  RequireScope,
} from '@app/http';
import { BalanceStore } from '@app/ledger';
import { formatUsd } from '@app/money';
import { Body, Controller, Get, HttpCode, Param, Post, Query, Res } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { FastifyReply } from 'fastify';
import { AuthorizeUsageService } from '../authorize-usage.service';
import { UsageQueryService } from '../usage-query.service';
import { AuthorizeRequestDto } from './authorize.dto';

/**
 * Gateway routes that read: balance, "may this run?", and per-event usage. Balance and usage are
 * also account routes: the workspace's own API keys read them (never another workspace's).
 */
@ApiTags('gateway')
@ApiBearerAuth()
@Controller('v1')
export class AccountUsageController {
  constructor(
    private readonly balances: BalanceStore,
    private readonly authorizer: AuthorizeUsageService,
    private readonly usage: UsageQueryService,
    private readonly catalog: CatalogCache,
  ) {}

  private async requireAccount(accountId: string): Promise<void> {
    if (!(await this.catalog.findAccount(accountId)))
      throw new ApiError(404, 'account_not_found', 'no such account');
  }

  @Get('accounts/:id/balance')
  @AccountRoute('usage:read')
  @GatewayReadable()
  @ApiOperation({ summary: 'Current balance (reflects usage once the worker has deducted it)' })
  async balance(@Param('id', AccountIdParam) accountId: string) {
    await this.requireAccount(accountId);
    const balance = await this.balances.balanceOf(accountId);
    if (balance === null) throw new ApiError(404, 'account_not_found', 'no such account');
    return {
      account_id: accountId,
      balance: formatUsd(balance),
      currency: 'USD',
      as_of: new Date().toISOString(),
    };
  }

  @Post('authorize')
  @HttpCode(200)
  @RequireScope('gateway')
  @ApiOperation({
    summary:
      'May this account run a request on this model? 200 yes; 402 credits, tier or key limit; 403 key revoked or unknown; 429 free-model rate limit (Retry-After)',
  })
  async authorize(@Body() body: AuthorizeRequestDto, @Res({ passthrough: true }) reply: FastifyReply) {
    const decision = await this.authorizer.authorize({
      accountId: body.account_id.toLowerCase(),
      modelId: body.model,
      apiKeyId: body.api_key_id?.toLowerCase(),
    });
    if (decision.allowed) return { allowed: true, balance: formatUsd(decision.balanceMicros) };
    switch (decision.reason) {
      case 'unknown_account':
        throw new ApiError(404, 'account_not_found', 'no such account');
      case 'unknown_model':
        throw new ApiError(422, 'unknown_model', 'model has no price in effect');
      case 'api_key_not_found':
      case 'api_key_revoked':
        void reply.status(403);
        return { allowed: false, reason: decision.reason };
      case 'rate_limited':
        void reply.status(429).header('retry-after', String(decision.retryAfterSeconds));
        return {
          allowed: false,
          reason: decision.reason,
          limit: decision.limit,
          retry_after_seconds: decision.retryAfterSeconds,
        };
      case 'key_limit_exceeded':
        void reply.status(402);
        return {
          allowed: false,
          reason: decision.reason,
          balance: formatUsd(decision.balanceMicros),
          key_limit: formatUsd(decision.limitMicros),
          key_spent: formatUsd(decision.spentMicros),
          resets_at: decision.resetsAt.toISOString(),
        };
      default:
        void reply.status(402);
        return { allowed: false, reason: decision.reason, balance: formatUsd(decision.balanceMicros) };
    }
  }

  @Get('accounts/:id/usage')
  @AccountRoute('usage:read')
  @GatewayReadable()
  @ApiOperation({ summary: 'Per-event usage, newest first, cursor-paginated; from inclusive, to exclusive' })
  @ApiQuery({ name: 'from', required: false })
  @ApiQuery({ name: 'to', required: false, description: 'after from (else 422 invalid_range)' })
  @ApiQuery({ name: 'limit', required: false, description: '1 to 1000, default 100' })
  @ApiQuery({ name: 'cursor', required: false })
  async list(
    @Param('id', AccountIdParam) accountId: string,
    @Query('from') from?: string,
    @Query('to') to?: string,
    @Query('limit') limitText?: string,
    @Query('cursor') cursor?: string,
  ) {
    const limit = pageLimitQuery(limitText, 1000);
    const window = { from: instantQuery(from, 'from'), to: instantQuery(to, 'to') };
    // As the usage export answers: a window that holds no instant is a caller's mistake, not an empty page.
    if (window.from && window.to && window.to <= window.from)
      throw new ApiError(422, 'invalid_range', 'to must be after from (from is inclusive, to exclusive)');
    await this.requireAccount(accountId);
    try {
      return await this.usage.list({ accountId, ...window, limit, cursor });
    } catch (error) {
      if (error instanceof InvalidCursorError) throw new ApiError(422, 'invalid_cursor', error.message);
      throw error;
    }
  }
}
