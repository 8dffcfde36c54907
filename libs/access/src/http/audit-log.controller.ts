import { AuditQueryService, InvalidAuditCursorError, MAX_AUDIT_PAGE } from '@app/audit';
import { CatalogCache } from '@app/catalog';
import { AccountIdParam, AccountRoute, ApiError } from '@app/http';
import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { requireAccount } from './require-account';

function instant(value: string | undefined, name: string): Date | undefined {
  if (value === undefined || value === '') return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new ApiError(422, 'validation_failed', `${name} must be an RFC 3339 date-time`);
  return new Date(ms);
}

@ApiTags('workspace')
@ApiBearerAuth()
@Controller('v1/accounts/:id/audit-log')
export class AuditLogController {
  constructor(
    private readonly audit: AuditQueryService,
    private readonly catalog: CatalogCache,
  ) {}

  @Get()
  @AccountRoute('audit:read')
  @ApiOperation({
    summary:
      'Changes to money, settings, keys, members and allowlists, newest first. Kept 30 days on Free, 90 on Developer, 400 (configurable) on Enterprise',
  })
  @ApiQuery({ name: 'from', required: false })
  @ApiQuery({ name: 'to', required: false })
  @ApiQuery({ name: 'action', required: false, description: 'e.g. api_key.revoked' })
  @ApiQuery({ name: 'limit', required: false, description: `1 to ${MAX_AUDIT_PAGE}, default 100` })
  @ApiQuery({ name: 'cursor', required: false })
  async list(
    @Param('id', AccountIdParam) accountId: string,
    @Query('from') from?: string,
    @Query('to') to?: string,
    @Query('action') action?: string,
    @Query('limit') limitText?: string,
    @Query('cursor') cursor?: string,
  ) {
    const limit = limitText === undefined ? 100 : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_AUDIT_PAGE) {
      throw new ApiError(422, 'validation_failed', `limit must be an integer from 1 to ${MAX_AUDIT_PAGE}`);
    }
    await requireAccount(this.catalog, accountId);
    try {
      return await this.audit.list({
        accountId,
        limit,
        cursor,
        action: action || undefined,
        from: instant(from, 'from'),
        to: instant(to, 'to'),
      });
    } catch (error) {
      if (error instanceof InvalidAuditCursorError) throw new ApiError(422, 'invalid_cursor', error.message);
      throw error;
    }
  }
}
