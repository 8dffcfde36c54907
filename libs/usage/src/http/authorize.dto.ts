import { ApiProperty } from '@nestjs/swagger';
import { IsString, IsUUID, MaxLength, MinLength } from 'class-validator';

export class AuthorizeRequestDto {
  @ApiProperty({ format: 'uuid' })
  @IsUUID()
  account_id: string;

  @ApiProperty({ example: 'openai/gpt-4o-mini' })
  @IsString()
  @MinLength(1)
  @MaxLength(200)
  model: string;
}
