import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsISO31661Alpha2, IsOptional, IsString, MaxLength, MinLength } from 'class-validator';

/** PUT replaces the whole profile: an omitted or null field is cleared. */
export class BillingProfileDto {
  @ApiPropertyOptional({
    example: 'Acme Corp.',
    nullable: true,
    description: 'Printed as the bill-to name (the account name when empty)',
  })
  @IsOptional()
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  legal_name?: string | null;

  @ApiPropertyOptional({ example: '1 Market St', nullable: true })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  address_line1?: string | null;

  @ApiPropertyOptional({ example: 'Suite 300', nullable: true })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  address_line2?: string | null;

  @ApiPropertyOptional({ example: 'San Francisco', nullable: true })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  city?: string | null;

  @ApiPropertyOptional({
    example: 'CA',
    nullable: true,
    description:
      'For U.S. addresses the state code (CA, NY, DC, ...): it decides the sales-tax rate; required when country is US',
  })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  region?: string | null;

  @ApiPropertyOptional({ example: '94105', nullable: true })
  @IsOptional()
  @IsString()
  @MaxLength(20)
  postal_code?: string | null;

  @ApiPropertyOptional({
    example: 'US',
    nullable: true,
    description: 'ISO 3166-1 alpha-2; with region it decides the tax jurisdiction. No country: no tax',
  })
  @IsOptional()
  @IsISO31661Alpha2({ message: 'country must be an ISO 3166-1 alpha-2 code, e.g. US, DE' })
  country?: string | null;

  @ApiPropertyOptional({
    example: 'US12-3456789',
    nullable: true,
    description: 'VAT or tax number printed on invoices',
  })
  @IsOptional()
  @IsString()
  @MaxLength(50)
  tax_id?: string | null;

  @ApiPropertyOptional({
    example: 'PO-2026-0042',
    nullable: true,
    description: 'Printed on every invoice while set',
  })
  @IsOptional()
  @IsString()
  @MaxLength(100)
  purchase_order_number?: string | null;

  @ApiPropertyOptional({
    example: 'Cost center 7',
    nullable: true,
    description: 'Printed on every invoice while set',
  })
  @IsOptional()
  @IsString()
  @MaxLength(200)
  billing_reference?: string | null;
}
