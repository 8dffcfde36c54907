import { baseEnvSchema, loadConfig } from '@app/config';
import { describeMigrationError } from './describe-migration-error';
import { migrateDatabase } from './migrate';
import { waitForPostgres } from './wait-for-postgres';

async function main(): Promise<void> {
  const config = loadConfig(baseEnvSchema);
  // Postgres may still be starting (npm start on boot, a migrate container): wait up to a minute.
  await waitForPostgres(config.DATABASE_URL, { timeoutMs: 60_000, log: (line) => console.log(line) });
  await migrateDatabase(config.DATABASE_URL);
  console.log(`migrations applied to ${new URL(config.DATABASE_URL).pathname.slice(1)}`);
}

main().catch((error: unknown) => {
  console.error(describeMigrationError(error));
  process.exit(1);
});
