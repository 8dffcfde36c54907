import { Module } from '@nestjs/common';
import { CatalogCache } from './catalog-cache';
import { CatalogWriter } from './catalog-writer';

@Module({ providers: [CatalogCache, CatalogWriter], exports: [CatalogCache, CatalogWriter] })
export class CatalogModule {}
