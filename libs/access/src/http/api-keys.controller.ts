import { CatalogCache, requireAccount } from '@app/catalog';
import { AccountIdParam, AccountRoute, ApiError, Caller, CurrentCaller, UuidParam } from '@app/http';
import { parseUsd } from '@app/money';
import { Body, Controller, Delete, Get, Param, Patch, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiKeysService, KeyLimit } from '../keys/api-keys.service';
import { KeySpendStore } from '../keys/key-spend.store';
import { apiKeyView, keySpendView } from './views';
import { CreateApiKeyDto, KeyLimitDto, UpdateApiKeyDto } from './workspace.dto';

const KeyIdParam = new UuidParam('api_key_not_found', 'no such API key');

function keyLimit(dto: KeyLimitDto): KeyLimit {
  const micros = parseUsd(dto.amount);
  if (micros <= 0n) throw new ApiError(422, 'validation_failed', 'limit.amount must be more than 0');
  return { micros, period: dto.period };
}

@ApiTags('workspace')
@ApiBearerAuth()
@Controller('v1/accounts/:id/api-keys')
export class ApiKeysController {
  constructor(
    private readonly keys: ApiKeysService,
    private readonly spend: KeySpendStore,
    private readonly catalog: CatalogCache,
  ) {}

  @Post()
  @AccountRoute('keys:manage')
  @ApiOperation({ summary: 'Create an API key; the response is the only time its secret is shown' })
  async create(
    @Param('id', AccountIdParam) accountId: string,
    @Body() body: CreateApiKeyDto,
    @CurrentCaller() caller: Caller,
  ) {
    await requireAccount(this.catalog, accountId);
    const { key, record } = await this.keys.create(
      accountId,
      {
        name: body.name.trim(),
        role: body.role ?? 'member',
        projectId: body.project_id?.toLowerCase() ?? null,
        memberId: body.member_id?.toLowerCase() ?? null,
        limit: body.limit ? keyLimit(body.limit) : null,
      },
      caller,
    );
    return { ...apiKeyView(record), key };
  }

  @Get()
  @AccountRoute('keys:manage')
  @ApiOperation({ summary: "The workspace's API keys, newest first (never their secrets)" })
  async list(@Param('id', AccountIdParam) accountId: string) {
    await requireAccount(this.catalog, accountId);
    return { api_keys: (await this.keys.list(accountId)).map(apiKeyView) };
  }

  @Get(':keyId')
  @AccountRoute('keys:manage')
  @ApiOperation({ summary: 'One API key with its spend in the current limit period' })
  async get(@Param('id', AccountIdParam) accountId: string, @Param('keyId', KeyIdParam) keyId: string) {
    const record = await this.keys.get(accountId, keyId);
    await this.catalog.refreshIfStale();
    const cached = this.catalog.apiKey(keyId);
    const spend = cached ? await this.spend.current(cached) : null;
    return { ...apiKeyView(record), spend: keySpendView(record, spend) };
  }

  @Patch(':keyId')
  @AccountRoute('keys:manage')
  @ApiOperation({ summary: 'Rename a key or change its credit limit (null removes it)' })
  async update(
    @Param('id', AccountIdParam) accountId: string,
    @Param('keyId', KeyIdParam) keyId: string,
    @Body() body: UpdateApiKeyDto,
    @CurrentCaller() caller: Caller,
  ) {
    const record = await this.keys.update(
      accountId,
      keyId,
      {
        name: body.name?.trim(),
        limit: body.limit === undefined ? undefined : body.limit === null ? null : keyLimit(body.limit),
      },
      caller,
    );
    return apiKeyView(record);
  }

  @Delete(':keyId')
  @AccountRoute('keys:manage')
  @ApiOperation({ summary: 'Revoke a key: refused everywhere within a second; revoking again is harmless' })
  async revoke(
    @Param('id', AccountIdParam) accountId: string,
    @Param('keyId', KeyIdParam) keyId: string,
    @CurrentCaller() caller: Caller,
  ) {
    return apiKeyView(await this.keys.revoke(accountId, keyId, caller));
  }
}
