import { MemberRole } from '@app/catalog';
import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize,
  IsArray,
  IsBoolean,
  IsEmail,
  IsIn,
  IsObject,
  IsOptional,
  IsString,
  IsUUID,
  Matches,
  MaxLength,
  MinLength,
  ValidateNested,
} from 'class-validator';
import { MEMBER_ROLES } from '../permissions';

const NAME = { minLength: 1, maxLength: 200 };

export class KeyLimitDto {
  @ApiProperty({ example: '25.00', description: 'USD per period, a decimal string, more than 0' })
  @Matches(/^\d{1,12}(\.\d{1,6})?$/, {
    message: 'amount must be a decimal string in USD with at most 6 decimals',
  })
  amount: string;

  @ApiProperty({
    enum: ['daily', 'weekly', 'monthly'],
    description: 'Resets at 00:00 UTC; weeks start on Monday',
  })
  @IsIn(['daily', 'weekly', 'monthly'])
  period: 'daily' | 'weekly' | 'monthly';
}

export class CreateApiKeyDto {
  @ApiProperty({ example: 'production gateway' })
  @IsString()
  @MinLength(NAME.minLength)
  @MaxLength(NAME.maxLength)
  @Matches(/\S/, { message: 'name must not be blank' })
  name: string;

  @ApiPropertyOptional({
    enum: MEMBER_ROLES,
    default: 'member',
    description: 'What the key may do on account routes',
  })
  @IsOptional()
  @IsIn(MEMBER_ROLES)
  role?: MemberRole;

  @ApiPropertyOptional({ description: 'Attribute the key (and its usage) to this project' })
  @IsOptional()
  @IsUUID()
  project_id?: string;

  @ApiPropertyOptional({ description: 'The member the key belongs to; removing them revokes it' })
  @IsOptional()
  @IsUUID()
  member_id?: string;

  @ApiPropertyOptional({ type: KeyLimitDto, description: 'Credit limit per UTC period; omit for none' })
  @IsOptional()
  // ValidateNested alone lets an array through (it checks each element: none for []).
  @IsObject()
  @ValidateNested()
  @Type(() => KeyLimitDto)
  limit?: KeyLimitDto;
}

export class UpdateApiKeyDto {
  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MinLength(NAME.minLength)
  @MaxLength(NAME.maxLength)
  @Matches(/\S/, { message: 'name must not be blank' })
  name?: string;

  @ApiPropertyOptional({ type: KeyLimitDto, nullable: true, description: 'null removes the limit' })
  @IsOptional()
  // ValidateNested alone lets an array through (it checks each element: none for []).
  @IsObject()
  @ValidateNested()
  @Type(() => KeyLimitDto)
  limit?: KeyLimitDto | null;
}

export class AddMemberDto {
  @ApiProperty({ example: 'dev@acme.test' })
  @IsEmail()
  @MaxLength(320)
  email: string;

  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MaxLength(NAME.maxLength)
  name?: string;

  @ApiProperty({ enum: ['admin', 'billing', 'member'] })
  @IsIn(MEMBER_ROLES)
  role: MemberRole;
}

export class UpdateMemberDto {
  @ApiPropertyOptional({
    enum: MEMBER_ROLES,
    description: 'owner moves ownership here; the old owner becomes admin',
  })
  @IsOptional()
  @IsIn(MEMBER_ROLES)
  role?: MemberRole;

  @ApiPropertyOptional({ nullable: true })
  @IsOptional()
  @IsString()
  @MaxLength(NAME.maxLength)
  name?: string | null;
}

export class CreateProjectDto {
  @ApiProperty({ example: 'search' })
  @IsString()
  @MinLength(NAME.minLength)
  @MaxLength(NAME.maxLength)
  @Matches(/\S/, { message: 'name must not be blank' })
  name: string;
}

export class UpdateProjectDto {
  @ApiPropertyOptional()
  @IsOptional()
  @IsString()
  @MinLength(NAME.minLength)
  @MaxLength(NAME.maxLength)
  @Matches(/\S/, { message: 'name must not be blank' })
  name?: string;

  @ApiPropertyOptional({ description: 'true archives (no new usage or keys), false restores' })
  @IsOptional()
  @IsBoolean()
  archived?: boolean;
}

export class IpAllowlistDto {
  @ApiProperty({
    example: ['203.0.113.0/24', '2001:db8::/32'],
    description: 'IPv4/IPv6 addresses or CIDR ranges (at most 100); empty allows any address',
  })
  @IsArray()
  @ArrayMaxSize(100)
  @IsString({ each: true })
  @MaxLength(64, { each: true })
  cidrs: string[];
}
