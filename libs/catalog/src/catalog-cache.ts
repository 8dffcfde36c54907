import { APP_CONFIG, BaseEnv } from '@app/config';
import { DATABASE, DatabaseHandle } from '@app/db';
import { highestMicrosPerMtok } from '@app/money';
import { duplicateRedis, REDIS, RedisClient, RedisKeys, RepeatedErrorLog } from '@app/redis';
import { Inject, Injectable, Logger, OnModuleDestroy, OnModuleInit, Optional } from '@nestjs/common';
import {
  CachedAccount,
  CachedAlertRules,
  CachedApiKey,
  CachedBudget,
  CachedProject,
  PriceVersion,
} from './catalog-types';
import { PriceTimeline } from './price-timeline';

/** Rows changed this long before the previous sync are read again, covering slow commits. */
const RESYNC_MARGIN_MS = 60_000;
/**
 * The version is also polled this often, so a missed pub/sub notice (reconnect) still reaches
 * this process within a second: a revoked API key is refused within a second everywhere.
 */
const VERSION_POLL_MS = 500;
/** CATALOG_RESYNC_MS when no config is provided. */
const DEFAULT_RESYNC_MS = 30_000;

interface AccountRow {
  id: string;
  tier: CachedAccount['tier'];
  status: CachedAccount['status'];
  tier_changed_at: Date | null;
  purchased_micros: bigint;
  ip_allowlist: string[];
  billing_mode: CachedAccount['billingMode'];
  credit_limit_micros: bigint;
}

interface ApiKeyRow {
  id: string;
  account_id: string;
  project_id: string | null;
  role: CachedApiKey['role'];
  prefix: string;
  secret_hash: Buffer;
  limit_micros: bigint | null;
  limit_period: CachedApiKey['limitPeriod'];
  revoked_at: Date | null;
}

interface ProjectRow {
  id: string;
  account_id: string;
  archived_at: Date | null;
}

interface AutoReloadRow {
  account_id: string;
  enabled: boolean;
  threshold_micros: bigint;
}

/** alert_settings of an account, with all its budgets (budget writes touch alert_settings.updated_at). */
interface AlertRulesRow {
  account_id: string;
  low_balance_micros: bigint | null;
  budgets: {
    id: string;
    scope: CachedBudget['scope'];
    scope_id: string | null;
    amount_micros: string;
    thresholds: number[];
  }[];
}

interface PriceRow {
  id: number;
  model_id: string;
  version: number;
  prompt_micros_per_mtok: bigint;
  completion_micros_per_mtok: bigint;
  cached_micros_per_mtok: bigint;
  reasoning_micros_per_mtok: bigint;
  effective_from: Date;
}

/**
 * In-process copy of accounts, model prices, API keys and projects, so ingest validates, keys
 * authenticate and workers rate without a Postgres round trip. Writers bump a version in Redis after they commit (CatalogWriter). The
 * cache syncs on the pub/sub notice, and callers that must be exact check the version first
 * (`refreshIfStale`): one Redis GET, and a Postgres read only when something changed.
 */
@Injectable()
export class CatalogCache implements OnModuleInit, OnModuleDestroy {
  private readonly logger = new Logger(CatalogCache.name);
  /** A poll every 500 ms during a Redis or Postgres outage: its failure is logged once per few minutes. */
  private readonly failures = new RepeatedErrorLog((line) => this.logger.warn(line));
  private readonly accounts = new Map<string, CachedAccount>();
  private readonly models = new Map<string, PriceTimeline>();
  private readonly apiKeys = new Map<string, CachedApiKey>();
  private readonly apiKeysByPrefix = new Map<string, CachedApiKey>();
  private readonly projects = new Map<string, CachedProject>();
  /** Thresholds of accounts with auto-reload enabled (paused ones included: their reload job records the skip). */
  private readonly autoReloadThresholds = new Map<string, bigint>();
  /** Accounts with a low-balance line or a budget. */
  private readonly alertRules = new Map<string, CachedAlertRules>();
  private loadedVersion: string | null = null;
  private syncedFrom: Date | null = null;
  /** Date.now() at the end of the last sync. */
  private syncedAt = 0;
  private running: Promise<void> | null = null;
  private rerun = false;
  private subscriber: RedisClient | null = null;
  private poll: NodeJS.Timeout | null = null;

  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    @Inject(REDIS) private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    @Optional() @Inject(APP_CONFIG) private readonly config?: Pick<BaseEnv, 'CATALOG_RESYNC_MS'>,
  ) {}

  async onModuleInit(): Promise<void> {
    this.subscriber = duplicateRedis(this.redis, { enableAutoPipelining: false });
    this.subscriber.on(
      'message',
      () => void this.sync().catch((error) => this.failures.report('catalog sync failed', error)),
    );
    await this.subscriber.subscribe(this.keys.catalogChannel());
    await this.sync();
    const resyncMs = this.config?.CATALOG_RESYNC_MS ?? DEFAULT_RESYNC_MS;
    this.poll = setInterval(
      () => void this.pollOnce(resyncMs).catch((error) => this.failures.report('catalog poll failed', error)),
      VERSION_POLL_MS,
    );
    this.poll.unref();
  }

  /**
   * A sync when the version moved, and also every `resyncMs` without one: a writer killed after
   * its commit (or stopped while Redis was away, its announce still owed) bumped nothing, and a
   * revoked key or a new tier would otherwise wait for an unrelated change.
   */
  private pollOnce(resyncMs: number): Promise<void> {
    if (Date.now() - this.syncedAt < resyncMs) return this.refreshIfStale();
    // Counted from the attempt: with Postgres down, the next try is one interval away, not 500 ms.
    this.syncedAt = Date.now();
    return this.sync();
  }

  async onModuleDestroy(): Promise<void> {
    if (this.poll) clearInterval(this.poll);
    await this.subscriber?.quit().catch(() => this.subscriber?.disconnect());
  }

  account(accountId: string): CachedAccount | undefined {
    return this.accounts.get(accountId);
  }

  /** The account, looking again (after a version check) when the cache does not know it. */
  async findAccount(accountId: string): Promise<CachedAccount | undefined> {
    if (!this.accounts.has(accountId)) await this.refreshIfStale();
    return this.accounts.get(accountId);
  }

  apiKey(keyId: string): CachedApiKey | undefined {
    return this.apiKeys.get(keyId);
  }

  apiKeyByPrefix(prefix: string): CachedApiKey | undefined {
    return this.apiKeysByPrefix.get(prefix);
  }

  project(projectId: string): CachedProject | undefined {
    return this.projects.get(projectId);
  }

  /** The balance below which the account's usage triggers an auto-reload; null when auto-reload is off. */
  autoReloadThreshold(accountId: string): bigint | null {
    // Invoice billing runs on credit: its usage never charges a card (settings are also turned off on the switch).
    if (this.accounts.get(accountId)?.billingMode === 'invoice') return null;
    return this.autoReloadThresholds.get(accountId) ?? null;
  }

  /** Low-balance line and budgets of the account; undefined when it has neither. */
  alertRulesOf(accountId: string): CachedAlertRules | undefined {
    return this.alertRules.get(accountId);
  }

  /** The price version of `modelId` in effect at `atMs`; undefined for unknown or not-yet-priced models. */
  priceAt(modelId: string, atMs: number): PriceVersion | undefined {
    return this.models.get(modelId)?.at(atMs);
  }

  /** Current price of every model that has one in effect now. */
  currentPrices(nowMs = Date.now()): PriceVersion[] {
    const prices: PriceVersion[] = [];
    for (const timeline of this.models.values()) {
      const current = timeline.current(nowMs);
      if (current) prices.push(current);
    }
    return prices.sort((a, b) => a.modelId.localeCompare(b.modelId));
  }

  /** Makes the cache reflect every catalog change committed before this call. */
  async refreshIfStale(): Promise<void> {
    const version = await this.redis.get(this.keys.catalogVersion());
    if (version !== this.loadedVersion) await this.sync();
  }

  /** Loads what changed since the last sync. Concurrent callers share one run; a request made during a run gets another. */
  sync(): Promise<void> {
    if (this.running) {
      this.rerun = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        do {
          this.rerun = false;
          await this.syncOnce();
        } while (this.rerun);
      } finally {
        this.running = null;
      }
    })();
    return this.running;
  }

  private async syncOnce(): Promise<void> {
    // Read the version before the rows: a bump racing with this sync is then seen as stale next time.
    const version = await this.redis.get(this.keys.catalogVersion());
    const since = this.syncedFrom ? new Date(this.syncedFrom.getTime() - RESYNC_MARGIN_MS) : new Date(0);
    const { sql } = this.database;
    const [[{ now }], accountRows, priceRows, keyRows, projectRows, autoReloadRows, alertRulesRows] =
      await Promise.all([
        sql<{ now: Date }[]>`select now() as now`,
        sql<AccountRow[]>`
        select id, tier, status, tier_changed_at, purchased_micros, ip_allowlist, billing_mode,
               credit_limit_micros
        from accounts where updated_at >= ${since}`,
        sql<PriceRow[]>`
        select id, model_id, version, prompt_micros_per_mtok, completion_micros_per_mtok,
               cached_micros_per_mtok, reasoning_micros_per_mtok, effective_from
        from model_prices where created_at >= ${since}`,
        sql<ApiKeyRow[]>`
        select id, account_id, project_id, role, prefix, secret_hash, limit_micros, limit_period, revoked_at
        from api_keys where updated_at >= ${since}`,
        sql<ProjectRow[]>`select id, account_id, archived_at from projects where updated_at >= ${since}`,
        sql<AutoReloadRow[]>`
        select account_id, enabled, threshold_micros from auto_reload_settings where updated_at >= ${since}`,
        sql<AlertRulesRow[]>`
        select s.account_id, s.low_balance_micros,
               coalesce((select jsonb_agg(jsonb_build_object('id', b.id, 'scope', b.scope, 'scope_id', b.scope_id,
                         'amount_micros', b.amount_micros::text, 'thresholds', b.thresholds))
                         from budgets b where b.account_id = s.account_id), '[]'::jsonb) as budgets
        from alert_settings s where s.updated_at >= ${since}`,
      ]);
    for (const row of accountRows) {
      this.accounts.set(row.id, {
        id: row.id,
        tier: row.tier,
        status: row.status,
        tierChangedAt: row.tier_changed_at,
        purchasedMicros: row.purchased_micros,
        ipAllowlist: row.ip_allowlist,
        billingMode: row.billing_mode,
        creditLimitMicros: row.credit_limit_micros,
      });
    }
    for (const row of keyRows) {
      const key: CachedApiKey = {
        id: row.id,
        accountId: row.account_id,
        projectId: row.project_id,
        role: row.role,
        prefix: row.prefix,
        secretHash: row.secret_hash,
        limitMicros: row.limit_micros,
        limitPeriod: row.limit_period,
        revokedAt: row.revoked_at,
      };
      this.apiKeys.set(key.id, key);
      this.apiKeysByPrefix.set(key.prefix, key);
    }
    for (const row of autoReloadRows) {
      if (row.enabled) this.autoReloadThresholds.set(row.account_id, row.threshold_micros);
      else this.autoReloadThresholds.delete(row.account_id);
    }
    for (const row of alertRulesRows) {
      const budgets = row.budgets.map((budget) => ({
        id: budget.id,
        scope: budget.scope,
        scopeId: budget.scope_id,
        amountMicros: BigInt(budget.amount_micros),
        thresholds: [...budget.thresholds].sort((a, b) => a - b),
      }));
      if (row.low_balance_micros === null && budgets.length === 0) this.alertRules.delete(row.account_id);
      else this.alertRules.set(row.account_id, { lowBalanceMicros: row.low_balance_micros, budgets });
    }
    for (const row of projectRows)
      this.projects.set(row.id, { id: row.id, accountId: row.account_id, archivedAt: row.archived_at });
    for (const row of priceRows) {
      let timeline = this.models.get(row.model_id);
      if (!timeline) this.models.set(row.model_id, (timeline = new PriceTimeline()));
      const prices = {
        promptMicrosPerMtok: row.prompt_micros_per_mtok,
        completionMicrosPerMtok: row.completion_micros_per_mtok,
        cachedMicrosPerMtok: row.cached_micros_per_mtok,
        reasoningMicrosPerMtok: row.reasoning_micros_per_mtok,
      };
      timeline.add({
        id: Number(row.id),
        modelId: row.model_id,
        version: row.version,
        ...prices,
        effectiveFrom: row.effective_from,
        highestMicrosPerMtok: highestMicrosPerMtok(prices),
      });
    }
    this.syncedFrom = now;
    this.loadedVersion = version;
    this.syncedAt = Date.now();
  }
}
