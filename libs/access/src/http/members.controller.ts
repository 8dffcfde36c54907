import { CatalogCache, requireAccount } from '@app/catalog';
import { AccountIdParam, AccountRoute, Caller, CurrentCaller, UuidParam } from '@app/http';
import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { MembersService } from '../workspace/members.service';
import { memberView } from './views';
import { AddMemberDto, UpdateMemberDto } from './workspace.dto';

const MemberIdParam = new UuidParam('member_not_found', 'no such member');

@ApiTags('workspace')
@ApiBearerAuth()
@Controller('v1/accounts/:id/members')
export class MembersController {
  constructor(
    private readonly members: MembersService,
    private readonly catalog: CatalogCache,
  ) {}

  @Get()
  @AccountRoute('members:read')
  @ApiOperation({ summary: 'Members of the workspace and their roles (no per-seat fees)' })
  async list(@Param('id', AccountIdParam) accountId: string) {
    await requireAccount(this.catalog, accountId);
    return { members: (await this.members.list(accountId)).map(memberView) };
  }

  @Post()
  @AccountRoute('members:manage')
  @ApiOperation({ summary: 'Add a member (admin, billing or member; ownership moves with PATCH)' })
  async add(
    @Param('id', AccountIdParam) accountId: string,
    @Body() body: AddMemberDto,
    @CurrentCaller() caller: Caller,
  ) {
    await requireAccount(this.catalog, accountId);
    const member = await this.members.add(
      accountId,
      { email: body.email, name: body.name?.trim() || null, role: body.role },
      caller,
    );
    return memberView(member);
  }

  @Patch(':memberId')
  @AccountRoute('members:manage')
  @ApiOperation({ summary: "Change a member's role or name; role owner transfers ownership" })
  async update(
    @Param('id', AccountIdParam) accountId: string,
    @Param('memberId', MemberIdParam) memberId: string,
    @Body() body: UpdateMemberDto,
    @CurrentCaller() caller: Caller,
  ) {
    return memberView(
      await this.members.update(accountId, memberId, { role: body.role, name: body.name }, caller),
    );
  }

  @Delete(':memberId')
  @HttpCode(204)
  @AccountRoute('members:manage')
  @ApiOperation({ summary: 'Remove a member and revoke their API keys' })
  async remove(
    @Param('id', AccountIdParam) accountId: string,
    @Param('memberId', MemberIdParam) memberId: string,
    @CurrentCaller() caller: Caller,
  ): Promise<void> {
    await this.members.remove(accountId, memberId, caller);
  }
}
