import { ApiError } from '@app/http';

/** What usage can be summed by: the UTC day of occurred_at, the model, the API key, the project. */
export const SUMMARY_DIMENSIONS = ['day', 'model', 'api_key', 'project'] as const;
export type SummaryDimension = (typeof SUMMARY_DIMENSIONS)[number];

/** Without `group_by`, usage is summed per day: the spend-over-time chart. */
export const DEFAULT_SUMMARY_DIMENSIONS: readonly SummaryDimension[] = ['day'];

const isDimension = (value: string): value is SummaryDimension =>
  (SUMMARY_DIMENSIONS as readonly string[]).includes(value);

/**
 * The `group_by` query parameter: a comma-separated list of distinct dimensions, e.g. `day,model`.
 * Rows come back in the canonical order of SUMMARY_DIMENSIONS whatever order the list names them in,
 * so `model,day` and `day,model` are the same summary.
 */
export function summaryDimensionsQuery(value: string | undefined): SummaryDimension[] {
  if (value === undefined || value.trim() === '') return [...DEFAULT_SUMMARY_DIMENSIONS];
  const names = value.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !isDimension(name));
  if (unknown.length > 0 || new Set(names).size !== names.length) {
    throw new ApiError(
      422,
      'validation_failed',
      `group_by must be distinct names from ${SUMMARY_DIMENSIONS.join(', ')}, comma-separated` +
        (unknown.length > 0
          ? ` (unknown: ${unknown.map((name) => JSON.stringify(name)).join(', ')})`
          : ' (a name is repeated)'),
    );
  }
  return SUMMARY_DIMENSIONS.filter((dimension) => names.includes(dimension));
}
