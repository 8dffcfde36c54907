import { Tx } from '@app/db';

/**
 * paused_reason of a pause caused by a disputed charge. A pause after failed charges has a
 * sentence for a reason instead; only that one ends with a new card or a successful purchase.
 */
export const DISPUTE_PAUSE_REASON = 'dispute';

export interface AutoReloadPause {
  paused_at: Date | null;
  paused_reason: string | null;
}

/**
 * A new default card or a successful purchase: the failure count restarts and a pause after
 * failed charges ends. A dispute pause stays: the card holder disputed a charge, and neither
 * says the owner wants off-session charges again (only turning auto-reload on says that).
 * Callers have locked or updated the account row first (account-lock-order.ts).
 */
export async function endFailurePause(tx: Tx, accountId: string): Promise<void> {
  await tx`
    update auto_reload_settings set consecutive_failures = 0, updated_at = now(),
           paused_at = case when paused_reason = ${DISPUTE_PAUSE_REASON} then paused_at end,
           paused_reason = case when paused_reason = ${DISPUTE_PAUSE_REASON} then paused_reason end
    where account_id = ${accountId}
      and (consecutive_failures > 0 or (paused_at is not null and paused_reason is distinct from ${DISPUTE_PAUSE_REASON}))`;
}

/**
 * Pauses auto-reload for a dispute, replacing a pause after failed charges (which a new card
 * would end). Null when nothing changed: no settings, or already paused for a dispute. The
 * settings row's lock orders it with concurrent disputes and saves; the caller updated the
 * account row first (account-lock-order.ts).
 */
export async function pauseForDispute(
  tx: Tx,
  accountId: string,
): Promise<{ before: AutoReloadPause; after: AutoReloadPause } | null> {
  const [before] = await tx<AutoReloadPause[]>`
    select paused_at, paused_reason from auto_reload_settings where account_id = ${accountId} for update`;
  if (!before || before.paused_reason === DISPUTE_PAUSE_REASON) return null;
  const [after] = await tx<AutoReloadPause[]>`
    update auto_reload_settings set paused_at = now(), paused_reason = ${DISPUTE_PAUSE_REASON}, updated_at = now()
    where account_id = ${accountId}
    returning paused_at, paused_reason`;
  return { before, after };
}

/**
 * The owner turned auto-reload on while it was paused for a dispute: their consent to charge the
 * card off-session again. In the transaction that saves the settings, under their row's lock.
 */
export async function endDisputePause(tx: Tx, accountId: string): Promise<boolean> {
  const ended = await tx`
    update auto_reload_settings set paused_at = null, paused_reason = null, updated_at = now()
    where account_id = ${accountId} and paused_reason = ${DISPUTE_PAUSE_REASON}
    returning account_id`;
  return ended.length > 0;
}
