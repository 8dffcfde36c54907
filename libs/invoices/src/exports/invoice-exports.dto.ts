import { ApiProperty } from '@nestjs/swagger';
import { IsString, MaxLength } from 'class-validator';

export class InvoiceExportRequestDto {
  @ApiProperty({ example: '2026-01-01', description: 'First issue date (UTC), inclusive' })
  @IsString()
  @MaxLength(10)
  from: string;

  @ApiProperty({ example: '2026-03-31', description: 'Last issue date (UTC), inclusive' })
  @IsString()
  @MaxLength(10)
  to: string;
}
