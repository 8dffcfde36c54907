// Node 20 has String.prototype.isWellFormed; the project's lib (ES2022) does not declare it yet.
declare global {
  interface String {
    isWellFormed(): boolean;
  }
}

/**
 * Why Postgres cannot store `text`, in words, or null when it can. A text column refuses U+0000
 * (22021) and jsonb refuses \u0000 and a lone surrogate (22P05): refused where they arrive, they
 * are a 422 that names the field instead of a failed statement (a 500) halfway through a change.
 */
export function unstorableTextProblem(text: string): string | null {
  if (text.includes('\u0000')) return 'contains U+0000 (NUL), which Postgres cannot store';
  if (!text.isWellFormed()) return 'contains a lone surrogate (not well-formed UTF-16)';
  return null;
}

export interface UnstorableText {
  /** Where it is, dotted (e.g. "lines.2.description"); a key is named by its object, `whole` at the top. */
  field: string;
  message: string;
}

/**
 * The first string in `value`, object keys included, at any depth, that Postgres cannot store;
 * `value` itself is named `whole` (e.g. "body"). Iterative: a deeply nested JSON body cannot
 * overflow the stack.
 */
export function findUnstorableText(value: unknown, whole: string): UnstorableText | null {
  const pending: { value: unknown; path: string }[] = [{ value, path: '' }];
  while (pending.length > 0) {
    const { value: current, path } = pending.pop()!;
    const field = path || whole;
    if (typeof current === 'string') {
      const problem = unstorableTextProblem(current);
      if (problem) return { field, message: `${field} ${problem}` };
    } else if (typeof current === 'object' && current !== null) {
      for (const [key, child] of Object.entries(current)) {
        const problem = unstorableTextProblem(key);
        if (problem) return { field, message: `${field} has a key that ${problem}` };
        pending.push({ value: child, path: path ? `${path}.${key}` : key });
      }
    }
  }
  return null;
}
