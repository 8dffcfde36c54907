import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsBoolean, IsOptional, Matches } from 'class-validator';

const USD = /^\d{1,12}(\.\d{1,6})?$/;
const USD_MESSAGE = (field: string) => `${field} must be a decimal string in USD with at most 6 decimals`;

export class AutoReloadSettingsDto {
  @ApiProperty({ description: 'Turning it on needs a default card (422 no_default_card)' })
  @IsBoolean()
  enabled: boolean;

  @ApiProperty({ example: '10.00', description: 'Reload when usage takes the balance below this (USD)' })
  @Matches(USD, { message: USD_MESSAGE('threshold') })
  threshold: string;

  @ApiProperty({
    example: '25.00',
    description:
      'USD charged to the default card per reload: whole cents between the purchase minimum and maximum',
  })
  // Up to 6 decimals parse, so a fraction of a cent is refused by the service as invalid_amount.
  @Matches(USD, { message: USD_MESSAGE('amount') })
  amount: string;

  @ApiPropertyOptional({
    example: '100.00',
    nullable: true,
    description: 'Most auto-reload credits per UTC calendar month; null or omitted for no cap',
  })
  @IsOptional()
  @Matches(USD, { message: USD_MESSAGE('monthly_cap') })
  monthly_cap?: string | null;
}
