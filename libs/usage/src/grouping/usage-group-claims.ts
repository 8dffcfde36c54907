import { USAGE_GROUP_RECORD_SECONDS } from '@app/queue';
import { REDIS, RedisClient, RedisKeys } from '@app/redis';
import { Inject, Injectable } from '@nestjs/common';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Result } from 'ioredis';

declare module 'ioredis' {
  interface RedisCommander<Context> {
    claimUsageGroup(numberOfKeys: number, ...keysThenArgs: string[]): Result<string[], Context>;
  }
}

/** The batches charged together under one group id, in the order their events were merged. */
export interface UsageGroupRecord {
  groupId: string;
  batchIds: string[];
}

/**
 * Which group each usage batch was charged in (see claim-usage-group.lua). A group's Redis
 * pending entries and ledger rows are keyed by the group id, so a batch whose group crashed
 * before settling must be charged again as part of that same group, never in a new one.
 */
@Injectable()
export class UsageGroupClaims {
  constructor(
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {
    if (typeof (redis as { claimUsageGroup?: unknown }).claimUsageGroup !== 'function') {
      redis.defineCommand('claimUsageGroup', {
        lua: readFileSync(join(__dirname, '..', 'lua', 'claim-usage-group.lua'), 'utf8'),
      });
    }
  }

  /** Claims every batch for the group, or none (false) if any of them is in a group already. */
  async claim(group: UsageGroupRecord): Promise<boolean> {
    const keys = group.batchIds.map((batchId) => this.keys.usageGroupOf(batchId));
    const existing = await this.redis.claimUsageGroup(
      keys.length,
      ...keys,
      formatRecord(group),
      String(USAGE_GROUP_RECORD_SECONDS),
    );
    return existing.every((record) => record === '');
  }

  async groupOf(batchId: string): Promise<UsageGroupRecord | null> {
    const record = await this.redis.get(this.keys.usageGroupOf(batchId));
    return record === null ? null : parseRecord(record);
  }

  /** Once the group is settled: a batch delivered again after this is charged alone and finds its events stored. */
  async release(group: UsageGroupRecord): Promise<void> {
    await this.redis.del(...group.batchIds.map((batchId) => this.keys.usageGroupOf(batchId)));
  }
}

function formatRecord(group: UsageGroupRecord): string {
  return `${group.groupId}|${group.batchIds.join(',')}`;
}

function parseRecord(record: string): UsageGroupRecord {
  const [groupId, batchIds] = record.split('|');
  return { groupId, batchIds: batchIds.split(',') };
}
