import { auditActorOf } from '@app/audit';
import { ApiError, Caller, CurrentCaller, pageLimitQuery, RequireScope, UuidParam } from '@app/http';
import { Body, Controller, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiQuery, ApiTags } from '@nestjs/swagger';
import { TaxExemptionReviewDto } from './tax-exemption-review.dto';
import { taxExemptionView } from './tax-exemption.view';
import { TaxExemptionsService } from './tax-exemptions.service';

const ExemptionIdParam = new UuidParam('tax_exemption_not_found', 'no such tax exemption');
const STATUSES = ['pending', 'approved', 'rejected'] as const;
/** Long enough to open the document, short enough that a leaked link soon stops working. */
const DOCUMENT_URL_TTL_SECONDS = 300;

@ApiTags('admin')
@ApiBearerAuth()
@RequireScope('admin')
@Controller('v1/admin/tax-exemptions')
export class TaxExemptionsAdminController {
  constructor(private readonly exemptions: TaxExemptionsService) {}

  @Get()
  @ApiQuery({
    name: 'status',
    required: false,
    enum: STATUSES,
    description: 'pending (default): the review queue',
  })
  @ApiQuery({ name: 'limit', required: false, description: '1-500, default 100' })
  @ApiOperation({ summary: 'Tax-exemption certificates of every account by status, oldest first' })
  async list(@Query('status') status?: string, @Query('limit') limit?: string) {
    const wanted = status ?? 'pending';
    if (!(STATUSES as readonly string[]).includes(wanted)) {
      throw new ApiError(422, 'validation_failed', `status must be one of ${STATUSES.join(', ')}`);
    }
    const rows = await this.exemptions.listByStatus(
      wanted as (typeof STATUSES)[number],
      pageLimitQuery(limit, 500),
    );
    return { tax_exemptions: rows.map(taxExemptionView) };
  }

  @Get(':exemptionId/document')
  @ApiOperation({ summary: 'A short-lived link to download the certificate (presigned S3 GET)' })
  async document(@Param('exemptionId', ExemptionIdParam) exemptionId: string) {
    const exemption = await this.exemptions.find(exemptionId);
    const link = await this.exemptions.documentUrl(exemption, DOCUMENT_URL_TTL_SECONDS);
    return { url: link.url, expires_at: link.expiresAt.toISOString(), sha256: exemption.sha256 };
  }

  @Post(':exemptionId/approve')
  @HttpCode(200)
  @ApiOperation({
    summary:
      'Approve a pending certificate: purchases the account opens from now on are tax-exempt; earlier purchases and invoices keep their tax. 409 tax_exemption_already_reviewed',
  })
  async approve(
    @Param('exemptionId', ExemptionIdParam) exemptionId: string,
    @Body() body: TaxExemptionReviewDto,
    @CurrentCaller() caller: Caller,
  ) {
    return taxExemptionView(
      await this.exemptions.review(exemptionId, 'approved', body?.note ?? null, auditActorOf(caller)),
    );
  }

  @Post(':exemptionId/reject')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Reject a pending certificate (the account stays taxed). 409 tax_exemption_already_reviewed',
  })
  async reject(
    @Param('exemptionId', ExemptionIdParam) exemptionId: string,
    @Body() body: TaxExemptionReviewDto,
    @CurrentCaller() caller: Caller,
  ) {
    return taxExemptionView(
      await this.exemptions.review(exemptionId, 'rejected', body?.note ?? null, auditActorOf(caller)),
    );
  }
}
