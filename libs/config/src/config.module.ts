import { DynamicModule, Global, Module } from '@nestjs/common';
import { APP_CONFIG } from './load-config';

@Global()
@Module({})
export class ConfigModule {
  /** Provides the config a process validated at boot (see loadConfig) under APP_CONFIG. */
  static forRoot(config: object): DynamicModule {
    return {
      module: ConfigModule,
      providers: [{ provide: APP_CONFIG, useValue: config }],
      exports: [APP_CONFIG],
    };
  }
}
