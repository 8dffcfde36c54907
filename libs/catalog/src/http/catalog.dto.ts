import { formatUsd, parseUsd } from '@app/money';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import {
  IsEmail,
  IsIn,
  IsISO8601,
  IsOptional,
  IsString,
  Matches,
  MaxLength,
  MinLength,
  ValidateBy,
} from 'class-validator';

/** A non-negative USD amount with at most 6 decimals, as a string (never a JSON number). */
export const USD_STRING = /^\d{1,12}(\.\d{1,6})?$/;
const USD_MESSAGE = 'must be a decimal string in USD with at most 6 decimals, e.g. "0.15"';

/**
 * The highest price per million tokens of any kind, in micros ($1,000,000): far above any real
 * model, and low enough that no price is near what a 64-bit balance holds. Ingest still bounds
 * each event's cost (MAX_EVENT_COST_MICROS): 10^9 tokens at this price would cost $1,000,000,000.
 */
export const MAX_PRICE_MICROS_PER_MTOK = 1_000_000_000_000n;

/** A price within MAX_PRICE_MICROS_PER_MTOK; the USD_STRING check reports other strings. */
function AtMostMaxPrice(field: string): PropertyDecorator {
  return ValidateBy({
    name: 'atMostMaxPrice',
    validator: {
      validate: (value) =>
        typeof value !== 'string' || !USD_STRING.test(value) || parseUsd(value) <= MAX_PRICE_MICROS_PER_MTOK,
      defaultMessage: () => `${field} must be at most ${formatUsd(MAX_PRICE_MICROS_PER_MTOK)} USD`,
    },
  });
}

export class CreateAccountDto {
  @ApiProperty({ example: 'Acme AI' })
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  @Matches(/\S/, { message: 'name must not be blank' })
  name: string;

  @ApiProperty({ example: 'billing@acme.test', description: 'Where billing emails go' })
  @IsEmail()
  @MaxLength(320)
  email: string;

  @ApiPropertyOptional({ enum: ['free', 'developer', 'enterprise'], default: 'free' })
  @IsOptional()
  @IsIn(['free', 'developer', 'enterprise'])
  tier?: 'free' | 'developer' | 'enterprise';
}

export class UpdateAccountDto {
  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  @Matches(/\S/, { message: 'name must not be blank' })
  name?: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsEmail()
  @MaxLength(320)
  email?: string;

  @ApiPropertyOptional({
    enum: ['free', 'developer', 'enterprise'],
    description: 'Tiers change only here or on a first purchase',
  })
  @IsOptional()
  @IsIn(['free', 'developer', 'enterprise'])
  tier?: 'free' | 'developer' | 'enterprise';

  @ApiPropertyOptional({ enum: ['active', 'suspended', 'closed'] })
  @IsOptional()
  @IsIn(['active', 'suspended', 'closed'])
  status?: 'active' | 'suspended' | 'closed';
}

export class SetModelPriceDto {
  @ApiProperty({ example: '0.15', description: 'USD per million prompt tokens, at most 1000000' })
  @Matches(USD_STRING, { message: `prompt_price_per_mtok ${USD_MESSAGE}` })
  @AtMostMaxPrice('prompt_price_per_mtok')
  prompt_price_per_mtok: string;

  @ApiProperty({ example: '0.60', description: 'USD per million completion tokens, at most 1000000' })
  @Matches(USD_STRING, { message: `completion_price_per_mtok ${USD_MESSAGE}` })
  @AtMostMaxPrice('completion_price_per_mtok')
  completion_price_per_mtok: string;

  @ApiPropertyOptional({
    example: '0.075',
    description: 'USD per million cached prompt tokens, at most 1000000; defaults to the prompt price',
  })
  @IsOptional()
  @Matches(USD_STRING, { message: `cached_price_per_mtok ${USD_MESSAGE}` })
  @AtMostMaxPrice('cached_price_per_mtok')
  cached_price_per_mtok?: string;

  @ApiPropertyOptional({
    description: 'USD per million reasoning tokens, at most 1000000; defaults to the completion price',
  })
  @IsOptional()
  @Matches(USD_STRING, { message: `reasoning_price_per_mtok ${USD_MESSAGE}` })
  @AtMostMaxPrice('reasoning_price_per_mtok')
  reasoning_price_per_mtok?: string;

  @ApiPropertyOptional({ description: 'When this version takes effect (RFC 3339); defaults to now' })
  @IsOptional()
  @IsISO8601({ strict: true })
  effective_from?: string;
}
