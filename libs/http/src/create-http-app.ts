import { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, NestFastifyApplication } from '@nestjs/platform-fastify';
import { DocumentBuilder, SwaggerModule } from '@nestjs/swagger';
import { Logger } from 'nestjs-pino';
import { ErrorFilter } from './error.filter';
import { createValidationPipe } from './validation.pipe';

export interface HttpAppOptions {
  /** Largest accepted request body in bytes; larger bodies get 413. */
  bodyLimit?: number;
  /** OpenAPI documentation served at /docs; omitted for processes without a public API. */
  docs?: { title: string; description: string };
}

export const DEFAULT_BODY_LIMIT = 1024 * 1024;

/** Builds a Fastify-backed Nest app with our error shape, validation, logging and OpenAPI docs at /docs. */
export async function createHttpApp(rootModule: Type<unknown> | DynamicModule, options: HttpAppOptions): Promise<NestFastifyApplication> {
  const adapter = new FastifyAdapter({ bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT, trustProxy: false });
  const app = await NestFactory.create<NestFastifyApplication>(rootModule, adapter, { bufferLogs: true });
  app.useLogger(app.get(Logger));
  app.useGlobalFilters(new ErrorFilter());
  app.useGlobalPipes(createValidationPipe());
  app.enableShutdownHooks();
  if (options.docs) setUpDocs(app, options.docs);
  return app;
}

function setUpDocs(app: INestApplication, docs: NonNullable<HttpAppOptions['docs']>): void {
  const config = new DocumentBuilder()
    .setTitle(docs.title)
    .setDescription(docs.description)
    .setVersion('1')
    .addBearerAuth()
    .build();
  SwaggerModule.setup('docs', app, () => SwaggerModule.createDocument(app, config));
}

