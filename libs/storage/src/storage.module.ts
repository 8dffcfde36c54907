import { StorageEnv } from '@app/config';
import { DynamicModule, Global, Module } from '@nestjs/common';
import { ObjectStorage } from './object-storage.service';
import { createS3Client, S3_CLIENT, STORAGE_OPTIONS, storageOptionsFromEnv } from './storage-options';

/**
 * Imported once by each app that touches S3 (api, usage-worker) with its validated config;
 * global, so domain libs inject ObjectStorage without importing this module.
 */
@Global()
@Module({})
export class StorageModule {
  static forRoot(env: StorageEnv): DynamicModule {
    const options = storageOptionsFromEnv(env);
    return {
      module: StorageModule,
      providers: [
        { provide: STORAGE_OPTIONS, useValue: options },
        { provide: S3_CLIENT, useFactory: () => createS3Client(options) },
        ObjectStorage,
      ],
      exports: [STORAGE_OPTIONS, S3_CLIENT, ObjectStorage],
    };
  }
}
