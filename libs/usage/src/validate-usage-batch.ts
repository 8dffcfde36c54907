import { TierPolicy } from '@app/access';
import { CatalogCache } from '@app/catalog';
import { parseCheckedDateTime } from '@app/http';
import {
  eventCostMicros,
  exceedsMaxEventCost,
  formatUsd,
  MAX_EVENT_COST_MICROS,
  mayExceedMaxEventCost,
  TokenCounts,
  TokenPrices,
} from '@app/money';
import { MAX_CLOCK_SKEW_MS, MAX_EVENT_AGE_MS, UsageEventPayload } from '@app/queue';
import { Injectable } from '@nestjs/common';
import Ajv, { ErrorObject } from 'ajv';
import { metadataProblem } from './metadata-problem';
import { MAX_METADATA_BYTES, PATTERN_DESCRIPTIONS, usageBatchSchema } from './usage-batch.schema';
import { EventError, UsageValidationError } from './validation-error';

/** Errors that a catalog change committed a moment ago could explain: look again before refusing. */
const REFRESH_ON = new Set(['unknown_account', 'unknown_model', 'unknown_api_key', 'unknown_project']);

const CODE_BY_KEYWORD: Record<string, string> = {
  required: 'required',
  type: 'invalid_type',
  minimum: 'out_of_range',
  maximum: 'out_of_range',
  additionalProperties: 'unknown_field',
  minLength: 'invalid_length',
  maxLength: 'invalid_length',
  pattern: 'invalid_format',
  maxProperties: 'too_large',
  minItems: 'no_events',
  maxItems: 'too_many_events',
};

interface RawBatch {
  events: Array<
    Omit<UsageEventPayload, 'occurred_at' | 'cached_tokens' | 'reasoning_tokens'> & {
      occurred_at?: string;
      cached_tokens?: number;
      reasoning_tokens?: number;
    }
  >;
}

/**
 * Validates an ingest request as a whole: every event's shape, then what needs the catalog or
 * the clock. Returns the events normalised for the queue, or throws with every problem found.
 */
@Injectable()
export class ValidateUsageBatch {
  private readonly checkShape = new Ajv({ allErrors: true, strict: true }).compile<RawBatch>(
    usageBatchSchema,
  );

  constructor(
    private readonly catalog: CatalogCache,
    private readonly tiers: TierPolicy,
  ) {}

  async validate(body: unknown, nowMs = Date.now()): Promise<UsageEventPayload[]> {
    if (!this.checkShape(body)) throw new UsageValidationError(shapeErrors(this.checkShape.errors ?? []));
    // UUIDs are case-insensitive; Postgres and the caches use the lowercase form.
    for (const event of body.events) {
      event.account_id = event.account_id.toLowerCase();
      if (event.api_key_id !== undefined) event.api_key_id = event.api_key_id.toLowerCase();
      if (event.project_id !== undefined) event.project_id = event.project_id.toLowerCase();
    }
    const occurredAts = body.events.map((event) =>
      event.occurred_at === undefined ? nowMs : parseCheckedDateTime(event.occurred_at),
    );
    let errors = this.checkMeaning(body, occurredAts, nowMs);
    if (errors.some((error) => REFRESH_ON.has(error.code))) {
      // The account, price, key or project may have been created a moment ago: make sure the cache has every committed change.
      await this.catalog.refreshIfStale();
      errors = this.checkMeaning(body, occurredAts, nowMs);
    }
    if (errors.length > 0) throw new UsageValidationError(errors);
    return body.events.map((event, index) => ({
      ...event,
      cached_tokens: event.cached_tokens ?? 0,
      reasoning_tokens: event.reasoning_tokens ?? 0,
      occurred_at: occurredAts[index],
    }));
  }

  private checkMeaning(body: RawBatch, occurredAts: number[], nowMs: number): EventError[] {
    const errors: EventError[] = [];
    body.events.forEach((event, index) => {
      const fail = (field: string, code: string, message: string) =>
        errors.push({ index, field, code, message });
      const occurredAt = occurredAts[index];
      if (Number.isNaN(occurredAt)) fail('occurred_at', 'invalid_format', 'not a valid RFC 3339 date-time');
      else if (occurredAt > nowMs + MAX_CLOCK_SKEW_MS)
        fail('occurred_at', 'in_future', 'more than 5 minutes ahead');
      else if (occurredAt < nowMs - MAX_EVENT_AGE_MS) fail('occurred_at', 'too_old', 'older than 35 days');
      // The parts must fit in their totals before the event's cost means anything.
      let tokensAdd = true;
      if ((event.cached_tokens ?? 0) > event.prompt_tokens) {
        tokensAdd = false;
        fail('cached_tokens', 'exceeds_prompt_tokens', 'cached tokens are part of prompt_tokens');
      }
      if ((event.reasoning_tokens ?? 0) > event.completion_tokens) {
        tokensAdd = false;
        fail(
          'reasoning_tokens',
          'exceeds_completion_tokens',
          'reasoning tokens are part of completion_tokens',
        );
      }
      if (event.metadata !== undefined) {
        // Walked first: it bounds the depth, so JSON.stringify below cannot overflow the stack.
        const problem = metadataProblem(event.metadata);
        if (problem) fail('metadata', 'invalid_metadata', problem);
        else if (Buffer.byteLength(JSON.stringify(event.metadata)) > MAX_METADATA_BYTES) {
          fail('metadata', 'too_large', `metadata must serialise to at most ${MAX_METADATA_BYTES} bytes`);
        }
      }
      const account = this.catalog.account(event.account_id);
      if (!account) fail('account_id', 'unknown_account', 'no such account');
      const price = Number.isNaN(occurredAt) ? undefined : this.catalog.priceAt(event.model, occurredAt);
      if (!Number.isNaN(occurredAt) && !price) {
        fail('model', 'unknown_model', 'model has no price in effect at occurred_at');
      }
      // The cheap bound first: nothing is allocated for the events it clears (all but the costliest).
      if (
        price &&
        tokensAdd &&
        mayExceedMaxEventCost(event.prompt_tokens + event.completion_tokens, price.highestMicrosPerMtok) &&
        exceedsMaxEventCost(tokensOf(event), price, price.highestMicrosPerMtok)
      ) {
        fail(
          costliestTokenField(event, price),
          'cost_out_of_range',
          `at the model's price these tokens cost more than ${formatUsd(MAX_EVENT_COST_MICROS)} USD, the most one event may cost`,
        );
      }
      if (account && price && !this.tiers.mayHaveUsedModel(account, price, occurredAt)) {
        fail(
          'model',
          'model_not_allowed_on_free_tier',
          'free-tier accounts use free models only; the account was Free at occurred_at',
        );
      }
      if (account) this.checkAttribution(event, occurredAt, fail);
    });
    return errors;
  }

  /** The key and project must be the account's own; a key bound to a project attributes its usage there. */
  private checkAttribution(
    event: RawBatch['events'][number],
    occurredAt: number,
    fail: (field: string, code: string, message: string) => void,
  ): void {
    if (event.api_key_id !== undefined) {
      const key = this.catalog.apiKey(event.api_key_id);
      if (!key || key.accountId !== event.account_id) {
        fail('api_key_id', 'unknown_api_key', 'no such API key in this account');
      } else if (key.revokedAt && !(occurredAt < key.revokedAt.getTime())) {
        fail('api_key_id', 'api_key_revoked', 'the key was revoked before occurred_at');
      } else if (key.projectId) {
        if (event.project_id === undefined) event.project_id = key.projectId;
        else if (event.project_id !== key.projectId) {
          fail('project_id', 'project_mismatch', 'the key belongs to another project');
        }
      }
    }
    if (event.project_id !== undefined) {
      const project = this.catalog.project(event.project_id);
      if (!project || project.accountId !== event.account_id) {
        fail('project_id', 'unknown_project', 'no such project in this account');
      } else if (project.archivedAt && !(occurredAt < project.archivedAt.getTime())) {
        fail('project_id', 'project_archived', 'the project was archived before occurred_at');
      }
    }
  }
}

function tokensOf(event: RawBatch['events'][number]): TokenCounts {
  return {
    promptTokens: event.prompt_tokens,
    completionTokens: event.completion_tokens,
    cachedTokens: event.cached_tokens ?? 0,
    reasoningTokens: event.reasoning_tokens ?? 0,
  };
}

/** Of an event that costs too much, the token count whose part of the cost is the larger. */
function costliestTokenField(event: RawBatch['events'][number], price: TokenPrices): string {
  const tokens = tokensOf(event);
  const promptPart = eventCostMicros({ ...tokens, completionTokens: 0, reasoningTokens: 0 }, price);
  const completionPart = eventCostMicros({ ...tokens, promptTokens: 0, cachedTokens: 0 }, price);
  return promptPart >= completionPart ? 'prompt_tokens' : 'completion_tokens';
}

function shapeErrors(errors: ErrorObject[]): EventError[] {
  return errors.map((error) => {
    const path = error.instancePath.split('/').filter(Boolean);
    const index = path[0] === 'events' && path[1] !== undefined ? Number(path[1]) : null;
    let field = index === null ? path.join('.') : path.slice(2).join('.');
    if (error.keyword === 'required') field = [field, error.params.missingProperty].filter(Boolean).join('.');
    if (error.keyword === 'additionalProperties') {
      field = [field, error.params.additionalProperty].filter(Boolean).join('.');
    }
    const patternMessage =
      error.keyword === 'pattern' ? PATTERN_DESCRIPTIONS[error.params.pattern as string] : undefined;
    return {
      index,
      field: field || 'body',
      code: CODE_BY_KEYWORD[error.keyword] ?? 'invalid',
      message: patternMessage ?? error.message ?? 'invalid',
    };
  });
}
