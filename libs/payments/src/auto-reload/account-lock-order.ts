import { Tx } from '@app/db';

/**
 * Lock order for a transaction that locks both rows of an account: its `accounts` row first, then
 * its `auto_reload_settings` row. Card changes, settlements, disputes and invoice billing terms
 * lock or update the account row and then update the settings row; a transaction that locked the
 * settings row first and then wrote a row referencing the account (whose foreign-key check takes
 * KEY SHARE on the account row, which a card change's FOR UPDATE blocks) deadlocked with them.
 *
 * KEY SHARE, the lock those foreign-key checks take anyway: it waits only for a holder of the
 * account row FOR UPDATE, never for usage, purchases or other KEY SHARE holders.
 */
export async function lockAccountBeforeSettings(tx: Tx, accountId: string): Promise<void> {
  await tx`select 1 from accounts where id = ${accountId} for key share`;
}
