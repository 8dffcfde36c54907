import { formatUsd } from '@app/money';
import { KeySpend } from '../keys/key-spend.store';
import { ApiKeyRecord } from '../keys/api-keys.service';
import { MemberRecord } from '../workspace/members.service';
import { ProjectRecord } from '../workspace/projects.service';

export function apiKeyView(key: ApiKeyRecord) {
  return {
    id: key.id,
    name: key.name,
    // Enough to recognise a key in a list; the secret part is never shown again.
    display: `bk_${key.prefix}_…`,
    role: key.role,
    project_id: key.project_id,
    member_id: key.member_id,
    limit:
      key.limit_micros === null ? null : { amount: formatUsd(key.limit_micros), period: key.limit_period },
    status: key.revoked_at ? 'revoked' : 'active',
    created_at: key.created_at.toISOString(),
    revoked_at: key.revoked_at?.toISOString() ?? null,
  };
}

export function keySpendView(key: ApiKeyRecord, spend: KeySpend | null) {
  if (!spend || key.limit_micros === null) return null;
  const remaining = key.limit_micros - spend.spentMicros;
  return {
    period_start: spend.period.start.toISOString(),
    resets_at: spend.period.end.toISOString(),
    spent: formatUsd(spend.spentMicros),
    remaining: formatUsd(remaining > 0n ? remaining : 0n),
  };
}

export function memberView(member: MemberRecord) {
  return {
    id: member.id,
    email: member.email,
    name: member.name,
    role: member.role,
    created_at: member.created_at.toISOString(),
  };
}

export function projectView(project: ProjectRecord) {
  return {
    id: project.id,
    name: project.name,
    status: project.archived_at ? 'archived' : 'active',
    created_at: project.created_at.toISOString(),
    archived_at: project.archived_at?.toISOString() ?? null,
  };
}
