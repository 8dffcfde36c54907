import { auditActorOf } from '@app/audit';
import { CatalogCache, requireAccount } from '@app/catalog';
import { AccountIdParam, AccountRoute, Caller, CurrentCaller, UuidParam } from '@app/http';
import { parseUsd } from '@app/money';
import { Body, Controller, Delete, Get, HttpCode, Param, Put } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { BudgetsService, BudgetTarget } from '../budgets.service';
import { BudgetDto } from './alerts.dto';
import { budgetView } from './views';

const KeyIdParam = new UuidParam('api_key_not_found', 'no such API key');
const ProjectIdParam = new UuidParam('project_not_found', 'no such project');
const PERIODS =
  'Budgets are monthly: periods are calendar months in UTC (from the 1st 00:00 UTC to the next 1st); usage counts in the month it is charged.';

/** Monthly budgets of the account, of one API key, or of one project. */
@ApiTags('budgets and alerts')
@ApiBearerAuth()
@Controller('v1/accounts/:id')
export class BudgetsController {
  constructor(
    private readonly budgets: BudgetsService,
    private readonly catalog: CatalogCache,
  ) {}

  @Get('budget')
  @AccountRoute('billing:manage')
  @ApiOperation({
    summary: "The account's monthly budget (amount null when none is set)",
    description: PERIODS,
  })
  async getAccount(@Param('id', AccountIdParam) accountId: string) {
    await requireAccount(this.catalog, accountId);
    const target = account(accountId);
    return budgetView(await this.budgets.get(target), target);
  }

  @Put('budget')
  @AccountRoute('billing:manage')
  @ApiOperation({
    summary: "Set the account's monthly budget and its alert thresholds (percent of the amount)",
    description: PERIODS,
  })
  async putAccount(
    @Param('id', AccountIdParam) accountId: string,
    @Body() body: BudgetDto,
    @CurrentCaller() caller: Caller,
  ) {
    await requireAccount(this.catalog, accountId);
    const target = account(accountId);
    return budgetView(await this.budgets.put(target, input(body), auditActorOf(caller)), target);
  }

  @Delete('budget')
  @HttpCode(204)
  @AccountRoute('billing:manage')
  @ApiOperation({ summary: "Remove the account's budget (204 also when there was none)" })
  async deleteAccount(@Param('id', AccountIdParam) accountId: string, @CurrentCaller() caller: Caller) {
    await requireAccount(this.catalog, accountId);
    await this.budgets.delete(account(accountId), auditActorOf(caller));
  }

  @Get('api-keys/:keyId/budget')
  @AccountRoute('billing:manage')
  @ApiOperation({ summary: "An API key's monthly budget", description: PERIODS })
  async getKey(@Param('id', AccountIdParam) accountId: string, @Param('keyId', KeyIdParam) keyId: string) {
    await requireAccount(this.catalog, accountId);
    const target = scoped(accountId, 'api_key', keyId);
    return budgetView(await this.budgets.get(target), target);
  }

  @Put('api-keys/:keyId/budget')
  @AccountRoute('billing:manage')
  @ApiOperation({
    summary: "Set an API key's monthly budget: alerts on the usage of events sent with that key",
    description: PERIODS,
  })
  async putKey(
    @Param('id', AccountIdParam) accountId: string,
    @Param('keyId', KeyIdParam) keyId: string,
    @Body() body: BudgetDto,
    @CurrentCaller() caller: Caller,
  ) {
    await requireAccount(this.catalog, accountId);
    const target = scoped(accountId, 'api_key', keyId);
    return budgetView(await this.budgets.put(target, input(body), auditActorOf(caller)), target);
  }

  @Delete('api-keys/:keyId/budget')
  @HttpCode(204)
  @AccountRoute('billing:manage')
  @ApiOperation({ summary: "Remove an API key's budget" })
  async deleteKey(
    @Param('id', AccountIdParam) accountId: string,
    @Param('keyId', KeyIdParam) keyId: string,
    @CurrentCaller() caller: Caller,
  ) {
    await requireAccount(this.catalog, accountId);
    await this.budgets.delete(scoped(accountId, 'api_key', keyId), auditActorOf(caller));
  }

  @Get('projects/:projectId/budget')
  @AccountRoute('billing:manage')
  @ApiOperation({ summary: "A project's monthly budget", description: PERIODS })
  async getProject(
    @Param('id', AccountIdParam) accountId: string,
    @Param('projectId', ProjectIdParam) projectId: string,
  ) {
    await requireAccount(this.catalog, accountId);
    const target = scoped(accountId, 'project', projectId);
    return budgetView(await this.budgets.get(target), target);
  }

  @Put('projects/:projectId/budget')
  @AccountRoute('billing:manage')
  @ApiOperation({
    summary: "Set a project's monthly budget: alerts on the usage of events attributed to the project",
    description: PERIODS,
  })
  async putProject(
    @Param('id', AccountIdParam) accountId: string,
    @Param('projectId', ProjectIdParam) projectId: string,
    @Body() body: BudgetDto,
    @CurrentCaller() caller: Caller,
  ) {
    await requireAccount(this.catalog, accountId);
    const target = scoped(accountId, 'project', projectId);
    return budgetView(await this.budgets.put(target, input(body), auditActorOf(caller)), target);
  }

  @Delete('projects/:projectId/budget')
  @HttpCode(204)
  @AccountRoute('billing:manage')
  @ApiOperation({ summary: "Remove a project's budget" })
  async deleteProject(
    @Param('id', AccountIdParam) accountId: string,
    @Param('projectId', ProjectIdParam) projectId: string,
    @CurrentCaller() caller: Caller,
  ) {
    await requireAccount(this.catalog, accountId);
    await this.budgets.delete(scoped(accountId, 'project', projectId), auditActorOf(caller));
  }
}

function account(accountId: string): BudgetTarget {
  return { accountId, scope: 'account', scopeId: null };
}

function scoped(accountId: string, scope: 'api_key' | 'project', scopeId: string): BudgetTarget {
  return { accountId, scope, scopeId };
}

function input(body: BudgetDto) {
  return { amountMicros: parseUsd(body.amount), thresholds: body.thresholds, recipients: body.recipients };
}
