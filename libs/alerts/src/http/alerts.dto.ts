import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  ArrayMaxSize,
  ArrayMinSize,
  IsArray,
  IsBoolean,
  IsEmail,
  IsInt,
  IsOptional,
  Matches,
  Max,
  Min,
  ValidateIf,
} from 'class-validator';

const USD = /^\d{1,12}(\.\d{1,6})?$/;
const USD_MESSAGE = (field: string) => `${field} must be a decimal string in USD with at most 6 decimals`;

export class BudgetDto {
  @ApiProperty({
    example: '500.00',
    description: 'USD per calendar month (UTC: from the 1st 00:00 UTC to the next 1st), more than 0',
  })
  @Matches(USD, { message: USD_MESSAGE('amount') })
  amount: string;

  @ApiPropertyOptional({
    example: [50, 75, 90, 100],
    description:
      'Whole percents of the amount (1-1000, up to 10); each alerts once per month and amount when spend reaches it. Default 50, 75, 90, 100',
  })
  @IsOptional()
  @IsArray()
  @ArrayMinSize(1)
  @ArrayMaxSize(10)
  @IsInt({ each: true })
  @Min(1, { each: true })
  @Max(1000, { each: true })
  thresholds?: number[];

  @ApiPropertyOptional({
    example: ['finance@acme.test'],
    description: "Extra recipients of this budget's alerts, besides the account's billing email (up to 10)",
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(10)
  @IsEmail({}, { each: true })
  recipients?: string[];
}

export class AlertSettingsDto {
  @ApiProperty({
    example: '10.00',
    nullable: true,
    description:
      'Alert once when usage takes the balance below this (USD); it re-arms after the balance is back above it by max(10 %, $1). null: no low-balance alert',
  })
  @ValidateIf((_, value) => value !== null)
  @Matches(USD, { message: USD_MESSAGE('low_balance') })
  low_balance: string | null;

  @ApiProperty({
    description: 'Budget and low-balance alerts; auto-reload, payment and invoice notices are always sent',
  })
  @IsBoolean()
  non_essential_enabled: boolean;

  @ApiPropertyOptional({
    example: ['ops@acme.test'],
    description: 'Extra recipients of every alert (up to 10)',
  })
  @IsOptional()
  @IsArray()
  @ArrayMaxSize(10)
  @IsEmail({}, { each: true })
  recipients?: string[];
}
