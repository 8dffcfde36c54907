import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { ArrayMaxSize, IsArray, IsIn, IsOptional, Matches, ValidateNested } from 'class-validator';

const USD = /^\d{1,12}(\.\d{1,6})?$/;
const USD_MESSAGE = 'must be a decimal string in USD with at most 6 decimals, e.g. "5000.00"';

export class DiscountTierDto {
  @ApiProperty({ example: '10000.00', description: 'Monthly spend (USD) from which this tier applies' })
  @Matches(USD, { message: `from ${USD_MESSAGE}` })
  from: string;

  @ApiProperty({
    example: '5',
    description: 'Percent off the spend inside this tier, 0-100, up to 4 decimals',
  })
  @Matches(/^\d{1,3}(\.\d{1,4})?$/, { message: 'discount_percent must be a decimal string from 0 to 100' })
  discount_percent: string;
}

export class InvoiceBillingDto {
  @ApiProperty({ enum: [15, 30, 60], description: 'Net payment terms in days' })
  @IsIn([15, 30, 60])
  payment_terms_days: 15 | 30 | 60;

  @ApiProperty({
    example: '5000.00',
    description: 'How far below zero the balance may run before paid requests are refused (USD)',
  })
  @Matches(USD, { message: `credit_limit ${USD_MESSAGE}` })
  credit_limit: string;

  @ApiPropertyOptional({
    type: [DiscountTierDto],
    description:
      'Volume discount on each month\'s spend, graduated like tax brackets: each tier discounts only the spend between its "from" and the next tier\'s',
    example: [
      { from: '0.00', discount_percent: '0' },
      { from: '10000.00', discount_percent: '5' },
    ],
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(20)
  @ValidateNested({ each: true })
  @Type(() => DiscountTierDto)
  discount_tiers?: DiscountTierDto[];
}
