import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, MaxLength } from 'class-validator';

export class TaxExemptionReviewDto {
  @ApiPropertyOptional({
    example: 'Resale certificate checked',
    description: 'Why, kept with the decision and in the audit log',
  })
  @IsOptional()
  @IsString()
  @MaxLength(1000)
  note?: string;
}
