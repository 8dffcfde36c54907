import { z } from 'zod';

/**
 * Reads and validates a process's environment once, at boot. A bad or missing variable stops
 * the process with a message naming it; nothing else in the code base reads process.env.
 */
export function loadConfig<S extends z.ZodType>(schema: S, env: NodeJS.ProcessEnv = process.env): z.infer<S> {
  const parsed = schema.safeParse(env);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map(
    (issue) => `  ${issue.path.join('.') || '(env)'}: ${issue.message}`,
  );
  throw new Error(`Invalid configuration:\n${problems.join('\n')}`);
}

/** Token for injecting the validated config of the current process. */
export const APP_CONFIG = Symbol('APP_CONFIG');
