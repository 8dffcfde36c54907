import { AuditQueryService, MAX_AUDIT_PAGE } from '@app/audit';
import { InvalidCursorError } from '@app/db';
import { CatalogCache, requireAccount } from '@app/catalog';
import { AccountIdParam, AccountRoute, ApiError, instantQuery, pageLimitQuery } from '@app/http';
import { Controller, Get, Param, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';

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
    const limit = pageLimitQuery(limitText, MAX_AUDIT_PAGE);
    await requireAccount(this.catalog, accountId);
    try {
      return await this.audit.list({
        accountId,
        limit,
        cursor,
        action: action || undefined,
        from: instantQuery(from, 'from'),
        to: instantQuery(to, 'to'),
      });
    } catch (error) {
      if (error instanceof InvalidCursorError) throw new ApiError(422, 'invalid_cursor', error.message);
      throw error;
    }
  }
}
