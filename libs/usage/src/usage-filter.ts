import { Sql, Tx } from '@app/db';
import { ApiError } from '@app/http';
import { applyDecorators } from '@nestjs/common';
import { ApiQuery } from '@nestjs/swagger';
import { isUUID } from 'class-validator';

/**
 * Which events of an account a usage report covers, besides its time range: one model, one API key,
 * one project (each optional, all of them together). The summary and usage.csv take the same three
 * query parameters, so a summary row drills down to its events. Not the per-event listing on
 * ingest: a filter matching few events would make each page scan the account's whole history.
 */
export interface UsageFilter {
  model?: string;
  apiKeyId?: string;
  projectId?: string;
}

/** The three query parameters as sent; empty ones count as absent. */
export interface UsageFilterParams {
  model?: string;
  api_key_id?: string;
  project_id?: string;
}

function uuidParam(value: string | undefined, name: string): string | undefined {
  if (!value) return undefined;
  // Keys and projects are the workspace's own (ingest checks it), so their ids are UUIDs, stored in lowercase.
  if (!isUUID(value)) throw new ApiError(422, 'validation_failed', `${name} must be a UUID`);
  return value.toLowerCase();
}

export function usageFilterQuery(params: UsageFilterParams): UsageFilter {
  if (params.model !== undefined && params.model.length > 200) {
    throw new ApiError(422, 'validation_failed', 'model must be at most 200 characters');
  }
  return {
    model: params.model || undefined,
    apiKeyId: uuidParam(params.api_key_id, 'api_key_id'),
    projectId: uuidParam(params.project_id, 'project_id'),
  };
}

/** `and …` conditions on usage_events for the filter (nothing when it is empty); values are parameters. */
export function usageFilterSql(tag: Sql | Tx, filter: UsageFilter) {
  // The pool's tag and a transaction's build fragments alike; TypeScript cannot call the union's overloads.
  const sql = tag as Sql;
  return sql`
    ${filter.model !== undefined ? sql`and model_id = ${filter.model}` : sql``}
    ${filter.apiKeyId !== undefined ? sql`and api_key_id = ${filter.apiKeyId}` : sql``}
    ${filter.projectId !== undefined ? sql`and project_id = ${filter.projectId}` : sql``}`;
}

/** The OpenAPI description of the filter's query parameters. */
export function ApiUsageFilterQuery(): MethodDecorator {
  return applyDecorators(
    ApiQuery({ name: 'model', required: false, description: 'Only events of this model (its exact id)' }),
    ApiQuery({ name: 'api_key_id', required: false, description: 'Only events of this API key (UUID)' }),
    ApiQuery({ name: 'project_id', required: false, description: 'Only events of this project (UUID)' }),
  );
}
