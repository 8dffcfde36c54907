import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength, MinLength } from 'class-validator';

export class RefundPurchaseDto {
  @ApiPropertyOptional({
    example: '5.00',
    description:
      'Credits to take back, USD in whole cents (their share of the tax is refunded with them); everything not refunded yet when omitted',
  })
  @IsOptional()
  // Up to 6 decimals parse, so a fraction of a cent is refused by the service as invalid_amount.
  @Matches(/^\d{1,12}(\.\d{1,6})?$/, {
    message: 'amount must be a decimal string in USD with at most 6 decimals',
  })
  amount?: string;

  @ApiPropertyOptional({
    example: 'requested_by_customer',
    description:
      "Why, for the audit log; duplicate, fraudulent and requested_by_customer are also sent as Stripe's reason",
  })
  @IsOptional()
  @IsString()
  @MinLength(1)
  // Stripe metadata values hold at most 500 characters.
  @MaxLength(500)
  reason?: string;
}
