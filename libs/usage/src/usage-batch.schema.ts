/**
 * JSON Schema of POST /v1/usage/events, compiled once by ajv. Structure only; checks that need
 * the catalog or the clock (known account and model, occurred_at window) follow in the validator.
 */
export const MAX_EVENTS_PER_REQUEST = 1000;
export const MAX_TOKENS = 1_000_000_000;
export const MAX_METADATA_BYTES = 4096;

const tokenCount = { type: 'integer', minimum: 0, maximum: MAX_TOKENS } as const;
const identifier = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[\\x21-\\x7e]+$' } as const;

export const usageEventSchema = {
  type: 'object',
  required: ['id', 'account_id', 'model', 'prompt_tokens', 'completion_tokens'],
  additionalProperties: false,
  properties: {
    id: identifier,
    account_id: {
      type: 'string',
      pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$',
    },
    model: { type: 'string', minLength: 1, maxLength: 200 },
    prompt_tokens: tokenCount,
    completion_tokens: tokenCount,
    cached_tokens: tokenCount,
    reasoning_tokens: tokenCount,
    api_key_id: identifier,
    project_id: identifier,
    occurred_at: {
      type: 'string',
      pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}:\\d{2})$',
    },
    metadata: { type: 'object', maxProperties: 32 },
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
