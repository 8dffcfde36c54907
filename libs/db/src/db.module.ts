import { APP_CONFIG, BaseEnv } from '@app/config';
import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { DatabaseHandle, openDatabase } from './database';

export const DATABASE = Symbol('DATABASE');

@Global()
@Module({
  providers: [
    {
      provide: DATABASE,
      inject: [APP_CONFIG],
      useFactory: (config: BaseEnv) => openDatabase(config.DATABASE_URL, config.DATABASE_POOL_SIZE),
    },
  ],
  exports: [DATABASE],
})
export class DbModule implements OnApplicationShutdown {
  constructor(@Inject(DATABASE) private readonly database: DatabaseHandle) {}

  async onApplicationShutdown(): Promise<void> {
    await this.database.close();
  }
}
