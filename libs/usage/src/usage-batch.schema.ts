import { RFC3339_DATE_TIME } from '@app/http';
import { MAX_METADATA_DEPTH } from './metadata-problem';

/**
 * JSON Schema of POST /v1/usage/events, compiled once by ajv. Structure only; checks that need
 * the catalog or the clock (known account and model, occurred_at window) follow in the validator.
 */
export const MAX_EVENTS_PER_REQUEST = 1000;
export const MAX_TOKENS = 1_000_000_000;
export const MAX_METADATA_BYTES = 4096;

const IDENTIFIER_PATTERN = '^[\\x21-\\x7e]+$';
const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';
// The pattern parseCheckedDateTime relies on.
const DATE_TIME_PATTERN = RFC3339_DATE_TIME.source;

/** Each pattern below in words, for error messages: ajv's own quotes the regular expression. */
export const PATTERN_DESCRIPTIONS: Record<string, string> = {
  [IDENTIFIER_PATTERN]: 'must be printable ASCII without spaces',
  [UUID_PATTERN]: 'must be a UUID',
  [DATE_TIME_PATTERN]: 'must be an RFC 3339 date-time with a time zone, e.g. 2026-12-04T09:30:00Z',
};

const tokenCount = { type: 'integer', minimum: 0, maximum: MAX_TOKENS } as const;
const identifier = { type: 'string', minLength: 1, maxLength: 128, pattern: IDENTIFIER_PATTERN } as const;

export const usageEventSchema = {
  type: 'object',
  required: ['id', 'account_id', 'model', 'prompt_tokens', 'completion_tokens'],
  additionalProperties: false,
  properties: {
    id: identifier,
    account_id: { type: 'string', pattern: UUID_PATTERN },
    model: { type: 'string', minLength: 1, maxLength: 200 },
    prompt_tokens: tokenCount,
    completion_tokens: tokenCount,
    cached_tokens: tokenCount,
    reasoning_tokens: tokenCount,
    api_key_id: identifier,
    project_id: identifier,
    occurred_at: { type: 'string', pattern: DATE_TIME_PATTERN },
    metadata: {
      type: 'object',
      maxProperties: 32,
      // Checked by the validator (metadata-problem.ts): ajv's keywords cannot say it cheaply.
      description:
        `at most ${MAX_METADATA_BYTES} bytes as JSON, nested at most ${MAX_METADATA_DEPTH} levels deep; ` +
        'no U+0000 or lone surrogate in any key or string (Postgres jsonb cannot store them)',
    },
  },
} as const;

export const usageBatchSchema = {
  type: 'object',
  required: ['events'],
  additionalProperties: false,
  properties: {
    events: { type: 'array', minItems: 1, maxItems: MAX_EVENTS_PER_REQUEST, items: usageEventSchema },
  },
} as const;
