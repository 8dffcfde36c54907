import { AuditModule } from '@app/audit';
import { CatalogModule } from '@app/catalog';
import { API_KEY_AUTHORITY } from '@app/http';
import { REDIS, RedisKeys } from '@app/redis';
import { DynamicModule, Global, Module } from '@nestjs/common';
import Redis from 'ioredis';
import { CatalogApiKeyAuthority } from './api-key-authority';
import { ApiKeysService } from './keys/api-keys.service';
import { KeySpendStore } from './keys/key-spend.store';
import { FreeModelLimiter } from './rate-limit/free-model-limiter';
import { FREE_MODEL_LIMITS, FreeModelLimitSettings, TierPolicy } from './tiers/tier-policy';
import { IpAllowlistService } from './workspace/ip-allowlist.service';
import { MembersService } from './workspace/members.service';
import { ProjectsService } from './workspace/projects.service';

const SERVICES = [
  ApiKeysService,
  MembersService,
  ProjectsService,
  IpAllowlistService,
  KeySpendStore,
  TierPolicy,
];

/**
 * Workspaces, API keys, tiers and their limits. Global, so the app-wide AuthGuard finds the
 * API_KEY_AUTHORITY and the usage lib finds the tier policy, limiter and key spend.
 */
@Global()
@Module({})
export class AccessModule {
  static forRoot(limits: FreeModelLimitSettings): DynamicModule {
    return {
      module: AccessModule,
      imports: [CatalogModule, AuditModule.forRoot()],
      providers: [
        { provide: FREE_MODEL_LIMITS, useValue: limits },
        { provide: API_KEY_AUTHORITY, useClass: CatalogApiKeyAuthority },
        {
          provide: FreeModelLimiter,
          inject: [REDIS, RedisKeys],
          useFactory: (redis: Redis, keys: RedisKeys) => new FreeModelLimiter(redis, keys.prefix),
        },
        ...SERVICES,
      ],
      exports: [API_KEY_AUTHORITY, FreeModelLimiter, AuditModule, ...SERVICES],
    };
  }
}
