import { baseEnvSchema, loadConfig } from '@app/config';
import { describeMigrationError } from './describe-migration-error';
import { migrateDatabase } from './migrate';

async function main(): Promise<void> {
  const config = loadConfig(baseEnvSchema);
  await migrateDatabase(config.DATABASE_URL);
  console.log(`migrations applied to ${new URL(config.DATABASE_URL).pathname.slice(1)}`);
}

main().catch((error: unknown) => {
  console.error(describeMigrationError(error));
  process.exit(1);
});
