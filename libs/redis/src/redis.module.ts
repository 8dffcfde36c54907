import { APP_CONFIG, BaseEnv } from '@app/config';
import { Global, Inject, Module, OnApplicationShutdown } from '@nestjs/common';
import { openRedis, RedisClient } from './redis-connection';
import { RedisKeys } from './redis-keys';

export const REDIS = Symbol('REDIS');

@Global()
@Module({
  providers: [
    { provide: REDIS, inject: [APP_CONFIG], useFactory: (config: BaseEnv) => openRedis(config) },
    {
      provide: RedisKeys,
      inject: [APP_CONFIG],
      useFactory: (config: BaseEnv) => new RedisKeys(config.REDIS_PREFIX),
    },
  ],
  exports: [REDIS, RedisKeys],
})
export class RedisModule implements OnApplicationShutdown {
  constructor(@Inject(REDIS) private readonly redis: RedisClient) {}

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}
