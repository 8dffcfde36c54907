import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, IsUUID, MaxLength, MinLength } from 'class-validator';

export class AuthorizeRequestDto {
  @ApiProperty({ format: 'uuid' })
  @IsUUID()
  account_id: string;

  @ApiProperty({ example: 'openai/gpt-4o-mini' })
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  model: string;

  @ApiPropertyOptional({
    format: 'uuid',
    description: 'The workspace API key the request came with: its revocation and credit limit are enforced',
  })
  @IsOptional()
  @IsUUID()
  api_key_id?: string;
}
