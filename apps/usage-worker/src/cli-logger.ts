import { ConsoleLogger, LogLevel } from '@nestjs/common';

/**
 * Nest's console logger with every line on stderr, for the command-line tools: their stdout
 * carries only their JSON output, for scripts to parse.
 */
class StderrLogger extends ConsoleLogger {
  protected override printMessages(
    messages: unknown[],
    context?: string,
    logLevel?: LogLevel,
    _stream?: 'stdout' | 'stderr',
    errorStack?: unknown,
  ): void {
    super.printMessages(messages, context, logLevel, 'stderr', errorStack);
  }
}

/** The command-line tools' logger: warnings and errors only, on stderr. */
export function cliLogger(): ConsoleLogger {
  return new StderrLogger({ logLevels: ['error', 'warn'] });
}
