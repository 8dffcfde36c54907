export * from './catalog-types';
export * from './price-timeline';
export * from './catalog-cache';
export * from './catalog-writer';
export * from './catalog.module';
export * from './http/catalog.dto';
export * from './http/accounts-admin.controller';
export * from './http/models.controller';
