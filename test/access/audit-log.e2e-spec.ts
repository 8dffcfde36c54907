import { createHash, randomUUID } from 'node:crypto';
import { ApiClient } from '../support/api-client';
import { BillingStack } from '../support/billing-stack';
import { TEST_ADMIN_TOKEN, TEST_GATEWAY_TOKEN } from '../support/test-stores';
import { waitFor } from '../support/wait-for';
import { Workspace } from '../support/workspace';

const SOURCE_IP = '127.0.0.1';
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;
/** A cursor as the API encodes one, with parts a client might have edited. */
const cursorOf = (at: string, id: string) => Buffer.from(JSON.stringify([at, id])).toString('base64url');

type Tier = 'free' | 'developer' | 'enterprise';

interface Entry {
  id: string;
  action: string;
  actor: { type: string; id: string | null };
  target: { type: string; id: string | null };
  before: any;
  after: any;
  source_ip: string | null;
  created_at: string;
}

describe('audit log', () => {
  const stack = new BillingStack({
    workers: 1,
    workerEnv: { AUDIT_PRUNE_INTERVAL_MS: '1000', AUDIT_RETENTION_ENTERPRISE_DAYS: '400' },
  });
  /** Every full API key this suite saw: none may reach the audit log in any form. */
  const secrets: string[] = [];

  async function entriesOf(accountId: string, query = ''): Promise<Entry[]> {
    const response = await stack.admin.get(`/v1/accounts/${accountId}/audit-log?limit=1000${query}`);
    expect(response.status).toBe(200);
    return response.body.entries;
  }

  /** The one entry of `action` on `targetId`. */
  async function entryFor(accountId: string, action: string, targetId: string): Promise<Entry> {
    const found = (await entriesOf(accountId)).filter(
      (entry) => entry.action === action && entry.target.id === targetId,
    );
    expect(found).toHaveLength(1);
    return found[0];
  }

  function remember<T extends { key: string }>(created: T): T {
    secrets.push(created.key);
    return created;
  }

  beforeAll(() => stack.start());
  afterAll(() => stack.stop());

  describe('one change of each kind', () => {
    let accountId: string;
    let ws: Workspace;
    let ownerKey: { id: string; key: string };
    let owner: ApiClient;
    const byAdmin = { type: 'admin', id: null };
    const byOwnerKey = () => ({ type: 'api_key', id: ownerKey.id });
    let ownerMemberId: string;

    beforeAll(async () => {
      const response = await stack.admin.post('/v1/admin/accounts', {
        name: 'Audit Co',
        email: 'founder@audit.test',
        tier: 'developer',
      });
      expect(response.status).toBe(201);
      accountId = response.body.id;
      ws = new Workspace(stack, accountId);
      const members = await stack.admin.get(`${ws.path}/members`);
      ownerMemberId = members.body.members[0].id;
    });

    it('account.created, by the admin', async () => {
      expect(await entryFor(accountId, 'account.created', accountId)).toEqual({
        id: expect.any(String),
        action: 'account.created',
        actor: byAdmin,
        target: { type: 'account', id: accountId },
        before: null,
        after: expect.objectContaining({ name: 'Audit Co', email: 'founder@audit.test', tier: 'developer' }),
        source_ip: SOURCE_IP,
        created_at: expect.stringMatching(ISO),
      });
    });

    it('account.updated, for a new name and email', async () => {
      const response = await stack.admin.patch(`/v1/admin/accounts/${accountId}`, {
        name: 'Audit Company',
        email: 'billing@audit.test',
      });
      expect(response.status).toBe(200);
      const entry = await entryFor(accountId, 'account.updated', accountId);
      expect(entry).toEqual(
        expect.objectContaining({
          actor: byAdmin,
          target: { type: 'account', id: accountId },
          source_ip: SOURCE_IP,
        }),
      );
      expect(entry.before).toEqual(
        expect.objectContaining({ name: 'Audit Co', email: 'founder@audit.test' }),
      );
      expect(entry.after).toEqual(
        expect.objectContaining({ name: 'Audit Company', email: 'billing@audit.test' }),
      );
    });

    it('account.tier_changed, from developer to enterprise', async () => {
      const response = await stack.admin.patch(`/v1/admin/accounts/${accountId}`, { tier: 'enterprise' });
      expect(response.status).toBe(200);
      expect(response.body.tier).toBe('enterprise');
      const entry = await entryFor(accountId, 'account.tier_changed', accountId);
      expect(entry).toEqual(expect.objectContaining({ actor: byAdmin, source_ip: SOURCE_IP }));
      expect(entry.before).toEqual(expect.objectContaining({ tier: 'developer' }));
      expect(entry.after).toEqual(expect.objectContaining({ tier: 'enterprise' }));
    });

    it('credits.granted, with the amount, the reason and the balance before and after', async () => {
      const response = await stack.admin.post(
        `/v1/admin/accounts/${accountId}/credit-grants`,
        { amount: '12.50', reason: 'onboarding credit' },
        { 'idempotency-key': randomUUID() },
      );
      expect(response.status).toBe(201);
      const entries = (await entriesOf(accountId)).filter((entry) => entry.action === 'credits.granted');
      expect(entries).toHaveLength(1);
      expect(entries[0]).toEqual(
        expect.objectContaining({
          actor: byAdmin,
          target: { type: 'ledger_entry', id: expect.any(String) },
          source_ip: SOURCE_IP,
        }),
      );
      expect(entries[0].before).toEqual(expect.objectContaining({ balance_micros: '0' }));
      expect(entries[0].after).toEqual(
        expect.objectContaining({
          balance_micros: '12500000',
          amount_micros: '12500000',
          reason: 'onboarding credit',
        }),
      );
    });

    it('a replayed grant (same Idempotency-Key) adds no second entry', async () => {
      const key = randomUUID();
      for (let i = 0; i < 2; i++) {
        const response = await stack.admin.post(
          `/v1/admin/accounts/${accountId}/credit-grants`,
          { amount: '1', reason: 'replayed' },
          { 'idempotency-key': key },
        );
        expect(response.status).toBe(201);
      }
      const replayed = (await entriesOf(accountId, '&action=credits.granted')).filter(
        (entry) => entry.after.reason === 'replayed',
      );
      expect(replayed).toHaveLength(1);
    });

    it('credits.purchased, for a recorded purchase', async () => {
      await ws.purchase('5');
      const entries = await entriesOf(accountId, '&action=credits.purchased');
      expect(entries).toHaveLength(1);
      expect(entries[0]).toEqual(expect.objectContaining({ actor: byAdmin, source_ip: SOURCE_IP }));
      expect(entries[0].after).toEqual(
        expect.objectContaining({
          amount_micros: '5000000',
          balance_micros: '18500000',
          reason: 'wire transfer',
        }),
      );
    });

    it('api_key.created by the admin, with the key prefix and role but not the secret', async () => {
      ownerKey = remember(await ws.createKey({ role: 'owner', name: 'owner automation' }));
      owner = new ApiClient(stack.api.url, ownerKey.key);
      const entry = await entryFor(accountId, 'api_key.created', ownerKey.id);
      expect(entry).toEqual(
        expect.objectContaining({
          actor: byAdmin,
          target: { type: 'api_key', id: ownerKey.id },
          before: null,
          source_ip: SOURCE_IP,
        }),
      );
      expect(entry.after).toEqual(
        expect.objectContaining({
          name: 'owner automation',
          role: 'owner',
          prefix: ownerKey.key.slice(3, 15),
        }),
      );
    });

    describe('changes made with the owner key name the key as actor', () => {
      let projectId: string;
      let keyId: string;
      let memberId: string;

      it('project.created', async () => {
        const response = await owner.post(`${ws.path}/projects`, { name: 'search' });
        expect(response.status).toBe(201);
        projectId = response.body.id;
        expect(await entryFor(accountId, 'project.created', projectId)).toEqual(
          expect.objectContaining({
            actor: byOwnerKey(),
            target: { type: 'project', id: projectId },
            before: null,
            after: expect.objectContaining({ name: 'search' }),
            source_ip: SOURCE_IP,
          }),
        );
      });

      it('project.updated (renamed)', async () => {
        expect((await owner.patch(`${ws.path}/projects/${projectId}`, { name: 'search v2' })).status).toBe(
          200,
        );
        const entry = await entryFor(accountId, 'project.updated', projectId);
        expect(entry.actor).toEqual(byOwnerKey());
        expect(entry.before).toEqual(expect.objectContaining({ name: 'search' }));
        expect(entry.after).toEqual(expect.objectContaining({ name: 'search v2' }));
      });

      it('project.archived and project.restored', async () => {
        expect((await owner.patch(`${ws.path}/projects/${projectId}`, { archived: true })).status).toBe(200);
        const archived = await entryFor(accountId, 'project.archived', projectId);
        expect(archived.actor).toEqual(byOwnerKey());
        expect(archived.before).toEqual(expect.objectContaining({ archived_at: null }));
        expect(archived.after).toEqual(expect.objectContaining({ archived_at: expect.any(String) }));

        expect((await owner.patch(`${ws.path}/projects/${projectId}`, { archived: false })).status).toBe(200);
        const restored = await entryFor(accountId, 'project.restored', projectId);
        expect(restored.actor).toEqual(byOwnerKey());
        expect(restored.before).toEqual(expect.objectContaining({ archived_at: expect.any(String) }));
        expect(restored.after).toEqual(expect.objectContaining({ archived_at: null }));
      });

      it('api_key.created, with its role, project and limit', async () => {
        const response = await owner.post(`${ws.path}/api-keys`, {
          name: 'ci',
          role: 'member',
          project_id: projectId,
          limit: { amount: '2.00', period: 'daily' },
        });
        expect(response.status).toBe(201);
        keyId = response.body.id;
        secrets.push(response.body.key);
        const entry = await entryFor(accountId, 'api_key.created', keyId);
        expect(entry).toEqual(
          expect.objectContaining({
            actor: byOwnerKey(),
            target: { type: 'api_key', id: keyId },
            before: null,
          }),
        );
        expect(entry.after).toEqual(
          expect.objectContaining({
            name: 'ci',
            role: 'member',
            project_id: projectId,
            limit_micros: '2000000',
            limit_period: 'daily',
          }),
        );
      });

      it('api_key.updated, with the old and new name and limit', async () => {
        const response = await owner.patch(`${ws.path}/api-keys/${keyId}`, {
          name: 'ci nightly',
          limit: { amount: '7.50', period: 'weekly' },
        });
        expect(response.status).toBe(200);
        const entry = await entryFor(accountId, 'api_key.updated', keyId);
        expect(entry.actor).toEqual(byOwnerKey());
        expect(entry.before).toEqual(
          expect.objectContaining({ name: 'ci', limit_micros: '2000000', limit_period: 'daily' }),
        );
        expect(entry.after).toEqual(
          expect.objectContaining({ name: 'ci nightly', limit_micros: '7500000', limit_period: 'weekly' }),
        );
      });

      it('api_key.revoked, once, however often it is revoked', async () => {
        expect((await owner.delete(`${ws.path}/api-keys/${keyId}`)).status).toBe(200);
        expect((await owner.delete(`${ws.path}/api-keys/${keyId}`)).status).toBe(200);
        const entry = await entryFor(accountId, 'api_key.revoked', keyId);
        expect(entry.actor).toEqual(byOwnerKey());
        expect(entry.before).toEqual(expect.objectContaining({ revoked_at: null }));
        expect(entry.after).toEqual(expect.objectContaining({ revoked_at: expect.any(String) }));
      });

      it('member.added', async () => {
        const response = await owner.post(`${ws.path}/members`, {
          email: 'cfo@audit.test',
          name: 'Dana',
          role: 'billing',
        });
        expect(response.status).toBe(201);
        memberId = response.body.id;
        expect(await entryFor(accountId, 'member.added', memberId)).toEqual(
          expect.objectContaining({
            actor: byOwnerKey(),
            target: { type: 'member', id: memberId },
            before: null,
            after: expect.objectContaining({ email: 'cfo@audit.test', role: 'billing' }),
            source_ip: SOURCE_IP,
          }),
        );
      });

      it('member.updated (renamed)', async () => {
        expect((await owner.patch(`${ws.path}/members/${memberId}`, { name: 'Dana K.' })).status).toBe(200);
        const entry = await entryFor(accountId, 'member.updated', memberId);
        expect(entry.actor).toEqual(byOwnerKey());
        expect(entry.before).toEqual(expect.objectContaining({ name: 'Dana', role: 'billing' }));
        expect(entry.after).toEqual(expect.objectContaining({ name: 'Dana K.', role: 'billing' }));
      });

      it('member.role_changed', async () => {
        expect((await owner.patch(`${ws.path}/members/${memberId}`, { role: 'admin' })).status).toBe(200);
        const entry = await entryFor(accountId, 'member.role_changed', memberId);
        expect(entry.actor).toEqual(byOwnerKey());
        expect(entry.before).toEqual(expect.objectContaining({ role: 'billing' }));
        expect(entry.after).toEqual(expect.objectContaining({ role: 'admin' }));
      });

      it('ownership transfer: both role changes are recorded, the old owner becomes admin', async () => {
        const response = await owner.patch(`${ws.path}/members/${memberId}`, { role: 'owner' });
        expect(response.status).toBe(200);
        const changes = (await entriesOf(accountId, '&action=member.role_changed')).filter(
          (entry) => entry.after.role === 'owner' || entry.target.id === ownerMemberId,
        );
        const byTarget = Object.fromEntries(changes.map((entry) => [entry.target.id, entry]));
        expect(Object.keys(byTarget).sort()).toEqual([memberId, ownerMemberId].sort());
        expect(byTarget[ownerMemberId]).toEqual(
          expect.objectContaining({
            actor: byOwnerKey(),
            before: expect.objectContaining({ email: 'founder@audit.test', role: 'owner' }),
            after: expect.objectContaining({ email: 'founder@audit.test', role: 'admin' }),
          }),
        );
        expect(byTarget[memberId]).toEqual(
          expect.objectContaining({
            actor: byOwnerKey(),
            before: expect.objectContaining({ role: 'admin' }),
            after: expect.objectContaining({ role: 'owner' }),
          }),
        );
        const roles = (await stack.admin.get(`${ws.path}/members`)).body.members.map((m: any) => [
          m.id,
          m.role,
        ]);
        expect(roles).toEqual(
          expect.arrayContaining([
            [ownerMemberId, 'admin'],
            [memberId, 'owner'],
          ]),
        );
      });

      it('member.removed, with an api_key.revoked entry for each of their keys', async () => {
        const added = await owner.post(`${ws.path}/members`, {
          email: 'contractor@audit.test',
          role: 'member',
        });
        expect(added.status).toBe(201);
        const leaverId: string = added.body.id;
        const leaverKeys = [
          remember(await ws.createKey({ role: 'member', member_id: leaverId, name: 'laptop' })),
          remember(await ws.createKey({ role: 'member', member_id: leaverId, name: 'server' })),
        ];
        for (const key of leaverKeys) {
          expect((await new ApiClient(stack.ingest.url, key.key).get(`${ws.path}/balance`)).status).toBe(200);
        }

        expect((await owner.delete(`${ws.path}/members/${leaverId}`)).status).toBe(204);

        expect(await entryFor(accountId, 'member.removed', leaverId)).toEqual(
          expect.objectContaining({
            actor: byOwnerKey(),
            target: { type: 'member', id: leaverId },
            before: expect.objectContaining({ email: 'contractor@audit.test', role: 'member' }),
            after: null,
            source_ip: SOURCE_IP,
          }),
        );
        for (const key of leaverKeys) {
          const entry = await entryFor(accountId, 'api_key.revoked', key.id);
          expect(entry).toEqual(expect.objectContaining({ actor: byOwnerKey(), source_ip: SOURCE_IP }));
          expect(entry.after).toEqual(expect.objectContaining({ reason: 'member_removed' }));
          const refused = await new ApiClient(stack.ingest.url, key.key).get(`${ws.path}/balance`);
          expect(refused.status).toBe(401);
          const shown = await stack.admin.get(`${ws.path}/api-keys/${key.id}`);
          expect(shown.body.status).toBe('revoked');
        }
      });

      it('ip_allowlist.changed, with the old and new list', async () => {
        const response = await owner.put(`${ws.path}/ip-allowlist`, { cidrs: ['127.0.0.1', '::1/128'] });
        expect(response.status).toBe(200);
        expect(await entryFor(accountId, 'ip_allowlist.changed', accountId)).toEqual(
          expect.objectContaining({
            actor: byOwnerKey(),
            target: { type: 'account', id: accountId },
            before: { cidrs: [] },
            after: { cidrs: ['127.0.0.1/32', '::1/128'] },
            source_ip: SOURCE_IP,
          }),
        );
      });
    });

    it('a refused change leaves no entry', async () => {
      const before = await entriesOf(accountId);
      const memberKey = remember(await ws.createKey({ role: 'member' }));
      const withMember = new ApiClient(stack.api.url, memberKey.key);
      expect((await withMember.post(`${ws.path}/projects`, { name: 'sneaky' })).status).toBe(403);
      expect((await owner.put(`${ws.path}/ip-allowlist`, { cidrs: ['nonsense'] })).status).toBe(422);
      expect((await owner.post(`${ws.path}/projects`, { name: 'search v2' })).status).toBe(409);
      const after = await entriesOf(accountId);
      // Only the new key's creation was added.
      expect(after.length).toBe(before.length + 1);
      expect(after[0]).toEqual(
        expect.objectContaining({
          action: 'api_key.created',
          target: expect.objectContaining({ id: memberKey.id }),
        }),
      );
    });

    it('the owner key reads the same log through the API as the admin', async () => {
      const response = await owner.get(`${ws.path}/audit-log?limit=1000`);
      expect(response.status).toBe(200);
      expect(response.body.entries).toEqual(await entriesOf(accountId));
    });

    it('no secret anywhere: neither the API answer nor any audit_log row holds a key, its secret part or its hash', async () => {
      expect(secrets.length).toBeGreaterThanOrEqual(5);
      const rows = await stack.stores.sql<
        { row: string }[]
      >`select row_to_json(a)::text as row from audit_log a`;
      expect(rows.length).toBeGreaterThan(20);
      const stored = rows.map((row) => row.row).join('\n');
      const served = JSON.stringify(await entriesOf(accountId));
      const forbidden = [TEST_ADMIN_TOKEN, TEST_GATEWAY_TOKEN];
      for (const key of secrets) {
        const hash = createHash('sha256').update(key).digest();
        forbidden.push(key, key.slice(16), hash.toString('hex'), hash.toString('base64'));
      }
      for (const text of [stored, served]) {
        for (const secret of forbidden) expect(text).not.toContain(secret);
      }
      // The hash column as Postgres would print it into jsonb.
      expect(stored).not.toMatch(/\\\\x[0-9a-f]{64}/);
    });

    describe('reading it', () => {
      let all: Entry[];

      beforeAll(async () => {
        all = await entriesOf(accountId);
      });

      it('is newest first and every entry names its actor, target and source address', () => {
        expect(all.length).toBeGreaterThanOrEqual(20);
        const times = all.map((entry) => Date.parse(entry.created_at));
        expect([...times].sort((x, y) => y - x)).toEqual(times);
        for (const entry of all) {
          expect(['admin', 'api_key']).toContain(entry.actor.type);
          expect(entry.actor.id).toEqual(entry.actor.type === 'api_key' ? expect.any(String) : null);
          expect(entry.target.type).toEqual(expect.any(String));
          expect(entry.source_ip).toBe(SOURCE_IP);
        }
      });

      it.each([1, 3, 7])('pages of %i with next_cursor return every entry once, in order', async (limit) => {
        const seen: Entry[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const query: string = `?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
          const response = await stack.admin.get(`${ws.path}/audit-log${query}`);
          expect(response.status).toBe(200);
          expect(response.body.entries.length).toBeLessThanOrEqual(limit);
          seen.push(...response.body.entries);
          cursor = response.body.next_cursor;
          pages++;
          expect(pages).toBeLessThanOrEqual(all.length + 1);
        } while (cursor);
        expect(seen.map((entry) => entry.id)).toEqual(all.map((entry) => entry.id));
        expect(pages).toBe(Math.ceil(all.length / limit));
      });

      it('filters by action, also across pages', async () => {
        const expected = all.filter((entry) => entry.action === 'member.role_changed');
        expect(expected.length).toBe(3);
        const seen: Entry[] = [];
        let cursor: string | null = null;
        do {
          const query: string = `?action=member.role_changed&limit=1${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
          const response = await stack.admin.get(`${ws.path}/audit-log${query}`);
          expect(response.status).toBe(200);
          seen.push(...response.body.entries);
          cursor = response.body.next_cursor;
        } while (cursor);
        expect(seen).toEqual(expected);
        expect(await entriesOf(accountId, '&action=no.such.action')).toEqual([]);
      });

      it('filters by time: from inclusive, to exclusive', async () => {
        const pivot = all[Math.floor(all.length / 2)];
        const from = await entriesOf(accountId, `&from=${encodeURIComponent(pivot.created_at)}`);
        expect(from.map((entry) => entry.id)).toEqual(
          all.filter((entry) => entry.created_at >= pivot.created_at).map((entry) => entry.id),
        );
        const to = await entriesOf(accountId, `&to=${encodeURIComponent(pivot.created_at)}`);
        expect(to.map((entry) => entry.id)).toEqual(
          all.filter((entry) => entry.created_at < pivot.created_at).map((entry) => entry.id),
        );
      });

      it.each([
        ['a cursor it never returned', '&cursor=not-a-cursor', 'invalid_cursor'],
        ['limit 0', '&limit=0', 'validation_failed'],
        ['limit 1001', '&limit=1001', 'validation_failed'],
        ['a from that is no date', '&from=yesterday', 'validation_failed'],
        ['a from in the year 0', '&from=0000-01-01T00:00:00Z', 'validation_failed'],
        ['a to past the year 9999', '&to=%2B010000-01-01T00:00:00Z', 'validation_failed'],
        [
          'a cursor whose id exceeds a bigint',
          `&cursor=${cursorOf('2026-01-01T00:00:00.000000Z', '9999999999999999999')}`,
          'invalid_cursor',
        ],
        ['a cursor dated 2030', `&cursor=${cursorOf('2030', '1')}`, 'invalid_cursor'],
      ])('refuses %s with 422', async (_, query, code) => {
        const response = await stack.admin.get(`${ws.path}/audit-log?x=1${query}`);
        expect({ status: response.status, code: response.body?.error?.code }).toEqual({ status: 422, code });
      });
    });
  });

  describe('retention by the current tier, enforced by the scheduled prune job', () => {
    const DAY_MS = 24 * 3600_000;
    const accounts = {} as Record<'free' | 'developer' | 'enterprise' | 'sentinel', string>;

    async function insertAged(accountId: string, label: string, days: number): Promise<void> {
      await stack.stores.sql`
        insert into audit_log (account_id, actor_type, action, target_type, target_id, created_at)
        values (${accountId}, 'system', 'test.backdated', 'account', ${label},
                ${new Date(Date.now() - days * DAY_MS)})`;
    }

    async function backdatedLabels(): Promise<string[]> {
      const rows = await stack.stores.sql<{ target_id: string }[]>`
        select target_id from audit_log where action = 'test.backdated' order by target_id`;
      return rows.map((row) => row.target_id);
    }

    /**
     * Waits until the prune job has run at least once after now: an expired row of a Free account
     * that never changes tier disappears. Rows still there afterwards were kept by that run.
     */
    async function aPruneRunHasPassed(): Promise<void> {
      const label = `sentinel-${randomUUID().slice(0, 8)}`;
      await insertAged(accounts.sentinel, label, 45);
      await waitFor(backdatedLabels, (labels) => !labels.includes(label), {
        timeoutMs: 30_000,
        what: 'the prune job to delete an expired sentinel row',
      });
    }

    async function setTier(accountId: string, tier: Tier): Promise<void> {
      const response = await stack.admin.patch(`/v1/admin/accounts/${accountId}`, { tier });
      expect(response.status).toBe(200);
      expect(response.body.tier).toBe(tier);
    }

    beforeAll(async () => {
      for (const tier of ['free', 'developer', 'enterprise'] as const) {
        accounts[tier] = await stack.createAccount(tier);
      }
      accounts.sentinel = await stack.createAccount('free');
    });

    it('deletes rows just past 30 / 90 / 400 days on Free / Developer / Enterprise and keeps those just inside', async () => {
      await insertAged(accounts.free, 'free-29d', 29);
      await insertAged(accounts.free, 'free-31d', 31);
      await insertAged(accounts.developer, 'developer-89d', 89);
      await insertAged(accounts.developer, 'developer-91d', 91);
      await insertAged(accounts.enterprise, 'enterprise-399d', 399);
      await insertAged(accounts.enterprise, 'enterprise-401d', 401);

      await waitFor(
        backdatedLabels,
        (labels) =>
          !labels.includes('free-31d') &&
          !labels.includes('developer-91d') &&
          !labels.includes('enterprise-401d'),
        { timeoutMs: 30_000, what: 'expired audit rows to be pruned' },
      );
      await aPruneRunHasPassed();
      expect(await backdatedLabels()).toEqual(['developer-89d', 'enterprise-399d', 'free-29d']);
    });

    it('keeps the fresh entries of every account (account.created)', async () => {
      for (const accountId of Object.values(accounts)) {
        expect((await entriesOf(accountId)).map((entry) => entry.action)).toContain('account.created');
      }
    });

    it('a downgrade from Enterprise to Free drops what Free does not keep', async () => {
      await insertAged(accounts.enterprise, 'enterprise-29d', 29);
      await insertAged(accounts.enterprise, 'enterprise-200d', 200);
      await aPruneRunHasPassed();
      expect(await backdatedLabels()).toEqual(
        expect.arrayContaining(['enterprise-29d', 'enterprise-200d', 'enterprise-399d']),
      );

      await setTier(accounts.enterprise, 'free');
      await waitFor(
        backdatedLabels,
        (labels) => !labels.includes('enterprise-399d') && !labels.includes('enterprise-200d'),
        { timeoutMs: 30_000, what: 'rows older than 30 days of the downgraded account to be pruned' },
      );
      await aPruneRunHasPassed();
      expect((await backdatedLabels()).filter((label) => label.startsWith('enterprise-'))).toEqual([
        'enterprise-29d',
      ]);
    });

    it('an upgrade from Developer to Enterprise keeps rows Developer would have dropped', async () => {
      await setTier(accounts.developer, 'enterprise');
      await insertAged(accounts.developer, 'developer-200d', 200);
      await insertAged(accounts.developer, 'developer-399d', 399);
      await insertAged(accounts.developer, 'developer-401d', 401);
      await waitFor(backdatedLabels, (labels) => !labels.includes('developer-401d'), {
        timeoutMs: 30_000,
        what: 'the row past Enterprise retention to be pruned',
      });
      await aPruneRunHasPassed();
      expect((await backdatedLabels()).filter((label) => label.startsWith('developer-'))).toEqual([
        'developer-200d',
        'developer-399d',
        'developer-89d',
      ]);
    });

    it('an upgrade from Free to Developer keeps 90 days from then on', async () => {
      await setTier(accounts.free, 'developer');
      await insertAged(accounts.free, 'free-60d', 60);
      await insertAged(accounts.free, 'free-91d', 91);
      await waitFor(backdatedLabels, (labels) => !labels.includes('free-91d'), {
        timeoutMs: 30_000,
        what: 'the row past Developer retention to be pruned',
      });
      await aPruneRunHasPassed();
      expect((await backdatedLabels()).filter((label) => label.startsWith('free-'))).toEqual([
        'free-29d',
        'free-60d',
      ]);
    });

    it('the tier changes themselves are in the log as account.tier_changed', async () => {
      for (const [accountId, from, to] of [
        [accounts.enterprise, 'enterprise', 'free'],
        [accounts.developer, 'developer', 'enterprise'],
        [accounts.free, 'free', 'developer'],
      ]) {
        const [entry] = await entriesOf(accountId, '&action=account.tier_changed');
        expect(entry.before).toEqual(expect.objectContaining({ tier: from }));
        expect(entry.after).toEqual(expect.objectContaining({ tier: to }));
      }
    });
  });
});
