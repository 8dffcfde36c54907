/** One line of an app's JSON log (pino), with the fields the suites read. */
export interface LogLine {
  level: number;
  context?: string;
  msg?: string;
  res?: { statusCode: number };
}

/** The JSON lines of an app's output; anything else it printed is left out. */
export function logLines(output: string): LogLine[] {
  return output
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}
