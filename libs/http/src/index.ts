export * from './api-error';
export * from './auth.guard';
export * from './error.filter';
export * from './validation.pipe';
export * from './logging';
export * from './create-http-app';
export * from './auth.module';
export * from './with-deadline';
