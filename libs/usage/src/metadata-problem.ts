import { unstorableTextProblem } from '@app/http';

/**
 * Deepest nesting of objects and arrays in an event's metadata, the metadata object itself being
 * level 1. Far more than a gateway's tags need; low enough that nothing walking it (JSON.stringify,
 * Postgres's jsonb parser) can run out of stack, and checked before anything recursive touches it.
 */
export const MAX_METADATA_DEPTH = 32;

/**
 * Why Postgres would refuse an event's metadata as jsonb, in words, or null when it can store it.
 * JSON.stringify writes U+0000 as \u0000 and a lone surrogate as \udXXX, and jsonb refuses both
 * ("unsupported Unicode escape sequence", "Unicode low surrogate must follow a high surrogate"),
 * in keys and values at any depth. Iterative, and it stops at the first problem or at
 * MAX_METADATA_DEPTH, so a body of a million nested brackets costs 32 steps, not a stack overflow.
 */
export function metadataProblem(metadata: object): string | null {
  const containers: object[] = [metadata];
  const depths: number[] = [1];
  while (containers.length > 0) {
    const container = containers.pop()!;
    const depth = depths.pop()!;
    if (!Array.isArray(container)) {
      for (const key of Object.keys(container)) {
        const problem = unstorableTextProblem(key);
        if (problem) return `a key ${problem}`;
      }
    }
    for (const value of Array.isArray(container) ? container : Object.values(container)) {
      if (typeof value === 'string') {
        const problem = unstorableTextProblem(value);
        if (problem) return `a string value ${problem}`;
      } else if (typeof value === 'object' && value !== null) {
        if (depth === MAX_METADATA_DEPTH) {
          return `objects and arrays nest more than ${MAX_METADATA_DEPTH} levels deep`;
        }
        containers.push(value);
        depths.push(depth + 1);
      }
    }
  }
  return null;
}
