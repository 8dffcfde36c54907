import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, MaxLength } from 'class-validator';

export class CompleteSetupDto {
  @ApiProperty({ description: 'The SetupIntent the client confirmed with Stripe.js', example: 'seti_123' })
  @IsString()
  @MaxLength(255)
  setup_intent_id: string;
}

export class PurchaseDto {
  @ApiProperty({
    example: '25.00',
    description: 'USD in whole cents, between the configured minimum and maximum',
  })
  // Up to 6 decimals parse, so a fraction of a cent is refused by the service as invalid_amount.
  @Matches(/^\d{1,12}(\.\d{1,6})?$/, {
    message: 'amount must be a decimal string in USD with at most 6 decimals',
  })
  amount: string;

  @ApiPropertyOptional({ description: 'A saved card; the default card when omitted' })
  @IsOptional()
  @IsString()
  @MaxLength(255)
  payment_method_id?: string;
}
