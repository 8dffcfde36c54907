import { auditActorOf, AuditLogService } from '@app/audit';
import { CatalogWriter } from '@app/catalog';
import { DATABASE, DatabaseHandle } from '@app/db';
import { ApiError, Caller } from '@app/http';
import { Inject, Injectable } from '@nestjs/common';
import { IpAllowlist, normalizeCidrs } from '../ip-allowlist/ip-allowlist';

/** Enterprise IP allowlists on account-facing routes; every change is audited. */
@Injectable()
export class IpAllowlistService {
  constructor(
    @Inject(DATABASE) private readonly database: DatabaseHandle,
    private readonly audit: AuditLogService,
    private readonly catalog: CatalogWriter,
  ) {}

  async get(accountId: string): Promise<string[]> {
    const [row] = await this.database.sql<{ ip_allowlist: string[] }[]>`
      select ip_allowlist from accounts where id = ${accountId}`;
    if (!row) throw new ApiError(404, 'account_not_found', 'no such account');
    return row.ip_allowlist;
  }

  async replace(accountId: string, entries: string[], caller: Caller): Promise<string[]> {
    const normalized = normalizeCidrs(entries);
    if ('errors' in normalized) {
      throw new ApiError(422, 'invalid_cidr', 'every entry must be an IPv4 or IPv6 address or CIDR range', {
        errors: normalized.errors.map((error) => ({
          field: `cidrs.${error.index}`,
          code: 'invalid_cidr',
          message: error.message,
        })),
      });
    }
    const cidrs = normalized.cidrs;
    // A key that would lock itself out is almost always a mistake; the operator's token can still do it.
    if (
      caller.principal.kind === 'api_key' &&
      cidrs.length > 0 &&
      !IpAllowlist.compile(cidrs).allows(caller.ip)
    ) {
      throw new ApiError(
        422,
        'would_lock_out_caller',
        `the new list does not include your address ${caller.ip}`,
      );
    }
    await this.database.sql.begin(async (tx) => {
      const [account] = await tx<{ tier: string; ip_allowlist: string[] }[]>`
        select tier, ip_allowlist from accounts where id = ${accountId} for update`;
      if (!account) throw new ApiError(404, 'account_not_found', 'no such account');
      if (cidrs.length > 0 && account.tier !== 'enterprise') {
        throw new ApiError(403, 'enterprise_only', 'IP allowlists are an Enterprise feature');
      }
      await tx`update accounts set ip_allowlist = ${cidrs}::text[], updated_at = now() where id = ${accountId}`;
      await this.audit.record(tx, {
        accountId,
        actor: auditActorOf(caller),
        action: 'ip_allowlist.changed',
        targetType: 'account',
        targetId: accountId,
        before: { cidrs: account.ip_allowlist },
        after: { cidrs },
      });
    });
    await this.catalog.announce();
    return cidrs;
  }
}
