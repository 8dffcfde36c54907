import { ApiError, isStorableInstant, RequireScope } from '@app/http';
import { parseUsd } from '@app/money';
import { Body, Controller, Get, Param, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { CatalogCache } from '../catalog-cache';
import { CatalogWriter, priceToJson } from '../catalog-writer';
import { isFree } from '../catalog-types';
import { SetModelPriceDto } from './catalog.dto';

const MODEL_ID = /^[\x21-\x7e]{1,200}$/;

/** The model price catalog. Prices are USD decimal strings per million tokens. */
@ApiTags('models')
@ApiBearerAuth()
@Controller('v1')
export class ModelsController {
  constructor(
    private readonly cache: CatalogCache,
    private readonly writer: CatalogWriter,
  ) {}

  @Get('models')
  @RequireScope('gateway')
  @ApiOperation({ summary: 'Current catalog: the price version in effect now for every model' })
  async list() {
    await this.cache.refreshIfStale();
    return {
      data: this.cache.currentPrices().map((price) => ({ ...priceToJson(price), free: isFree(price) })),
    };
  }

  @Put('admin/models/:model')
  @RequireScope('admin')
  @ApiParam({
    name: 'model',
    description: 'URL-encoded model id, e.g. meta-llama%2Fllama-3.1-8b-instruct%3Afree',
  })
  @ApiOperation({
    summary: 'Add a new price version for a model (created on first use); all prices 0 makes it free',
  })
  async setPrice(@Param('model') modelId: string, @Body() body: SetModelPriceDto) {
    if (!MODEL_ID.test(modelId))
      throw new ApiError(422, 'validation_failed', 'model id must be 1-200 printable characters');
    const effectiveFrom = body.effective_from === undefined ? new Date() : new Date(body.effective_from);
    if (!isStorableInstant(effectiveFrom.getTime()))
      throw new ApiError(422, 'validation_failed', 'effective_from must lie between the years 1 and 9999');
    const prompt = parseUsd(body.prompt_price_per_mtok);
    const completion = parseUsd(body.completion_price_per_mtok);
    const price = await this.writer.addPriceVersion({
      modelId,
      promptMicrosPerMtok: prompt,
      completionMicrosPerMtok: completion,
      cachedMicrosPerMtok:
        body.cached_price_per_mtok === undefined ? prompt : parseUsd(body.cached_price_per_mtok),
      reasoningMicrosPerMtok:
        body.reasoning_price_per_mtok === undefined ? completion : parseUsd(body.reasoning_price_per_mtok),
      effectiveFrom,
    });
    return { ...priceToJson(price), free: isFree(price) };
  }
}
