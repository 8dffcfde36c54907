import { DynamicModule, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { AUTH_TOKENS, AuthGuard, AuthTokens } from './auth.guard';

@Module({})
export class AuthModule {
  /** Every route of the app needs a token unless marked @Public(). */
  static forRoot(tokens: AuthTokens): DynamicModule {
    return {
      module: AuthModule,
      providers: [
        { provide: AUTH_TOKENS, useValue: tokens },
        { provide: APP_GUARD, useClass: AuthGuard },
      ],
    };
  }
}
