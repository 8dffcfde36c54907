import { MeterUsageBatchPayload, UsageBatchColumns, UsageEventPayload } from './job-payloads';

/** Per-event columns: each holds one entry per event. */
const PER_EVENT = [
  'id',
  'account',
  'model',
  'apiKey',
  'project',
  'promptTokens',
  'completionTokens',
  'cachedTokens',
  'reasoningTokens',
  'occurredAt',
] as const;

/** A list of distinct values and each value's position in it. */
class Dictionary {
  readonly values: string[] = [];
  private readonly positions = new Map<string, number>();

  positionOf(value: string | undefined): number {
    if (value === undefined) return -1;
    let position = this.positions.get(value);
    if (position === undefined) {
      position = this.values.length;
      this.positions.set(value, position);
      this.values.push(value);
    }
    return position;
  }
}

/** The events in columns, in order (what ingest queues). */
export function usageBatchColumns(events: readonly UsageEventPayload[]): UsageBatchColumns {
  const [accounts, models, apiKeys, projects] = [
    new Dictionary(),
    new Dictionary(),
    new Dictionary(),
    new Dictionary(),
  ];
  const count = events.length;
  const columns: UsageBatchColumns = {
    accounts: accounts.values,
    models: models.values,
    apiKeys: apiKeys.values,
    projects: projects.values,
    id: new Array<string>(count),
    account: new Array<number>(count),
    model: new Array<number>(count),
    apiKey: new Array<number>(count),
    project: new Array<number>(count),
    promptTokens: new Array<number>(count),
    completionTokens: new Array<number>(count),
    cachedTokens: new Array<number>(count),
    reasoningTokens: new Array<number>(count),
    occurredAt: new Array<number>(count),
  };
  let metadata: (Record<string, unknown> | null)[] | undefined;
  events.forEach((event, i) => {
    columns.id[i] = event.id;
    columns.account[i] = accounts.positionOf(event.account_id);
    columns.model[i] = models.positionOf(event.model);
    columns.apiKey[i] = apiKeys.positionOf(event.api_key_id);
    columns.project[i] = projects.positionOf(event.project_id);
    columns.promptTokens[i] = event.prompt_tokens;
    columns.completionTokens[i] = event.completion_tokens;
    columns.cachedTokens[i] = event.cached_tokens;
    columns.reasoningTokens[i] = event.reasoning_tokens;
    columns.occurredAt[i] = event.occurred_at;
    if (event.metadata !== undefined) {
      metadata ??= new Array<Record<string, unknown> | null>(count).fill(null);
      metadata[i] = event.metadata;
    }
  });
  if (metadata) columns.metadata = metadata;
  return columns;
}

/**
 * A queued batch's events in columns, whichever form it was queued in; null when the payload
 * holds neither form whole (columns of unequal lengths, a position outside its list).
 */
export function columnsOfUsageBatch(payload: MeterUsageBatchPayload | undefined): UsageBatchColumns | null {
  if (Array.isArray(payload?.events)) return usageBatchColumns(payload.events);
  const columns = payload?.columns;
  if (!columns || !Array.isArray(columns.id)) return null;
  const count = columns.id.length;
  const complete =
    PER_EVENT.every((name) => Array.isArray(columns[name]) && columns[name].length === count) &&
    (columns.metadata === undefined ||
      (Array.isArray(columns.metadata) && columns.metadata.length === count)) &&
    within(columns.account, columns.accounts, false) &&
    within(columns.model, columns.models, false) &&
    within(columns.apiKey, columns.apiKeys, true) &&
    within(columns.project, columns.projects, true);
  return complete ? columns : null;
}

function within(positions: number[], values: unknown, optional: boolean): boolean {
  if (!Array.isArray(values)) return false;
  return positions.every(
    (p) => Number.isInteger(p) && p < values.length && (p >= 0 || (optional && p === -1)),
  );
}

/** Event i of the columns as ingest accepted it. */
export function usageEventAt(columns: UsageBatchColumns, i: number): UsageEventPayload {
  const event: UsageEventPayload = {
    id: columns.id[i],
    account_id: columns.accounts[columns.account[i]],
    model: columns.models[columns.model[i]],
    prompt_tokens: columns.promptTokens[i],
    completion_tokens: columns.completionTokens[i],
    cached_tokens: columns.cachedTokens[i],
    reasoning_tokens: columns.reasoningTokens[i],
    occurred_at: columns.occurredAt[i],
  };
  if (columns.apiKey[i] >= 0) event.api_key_id = columns.apiKeys[columns.apiKey[i]];
  if (columns.project[i] >= 0) event.project_id = columns.projects[columns.project[i]];
  const metadata = columns.metadata?.[i];
  if (metadata != null) event.metadata = metadata;
  return event;
}
