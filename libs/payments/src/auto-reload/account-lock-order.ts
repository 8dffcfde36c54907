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
 *
 * Returns the billing mode as locked (null: no such account). Invoice billing terms change it only
 * under FOR UPDATE, which waits for this lock and which this lock waits for, so it cannot change
 * before the transaction ends: a card is never charged, nor auto-reload turned on, for an account
 * whose switch to invoice billing commits in between.
 */
export async function lockAccountBeforeSettings(
  tx: Tx,
  accountId: string,
): Promise<'prepaid' | 'invoice' | null> {
  const [account] = await tx<{ billing_mode: 'prepaid' | 'invoice' }[]>`
    select billing_mode from accounts where id = ${accountId} for key share`;
  return account?.billing_mode ?? null;
}
