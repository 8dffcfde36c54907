import { CatalogCache, requireAccount } from '@app/catalog';
import { AccountIdParam, AccountRoute, Caller, CurrentCaller, UuidParam } from '@app/http';
import { Body, Controller, Get, Param, Patch, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ProjectsService } from '../workspace/projects.service';
import { projectView } from './views';
import { CreateProjectDto, UpdateProjectDto } from './workspace.dto';

const ProjectIdParam = new UuidParam('project_not_found', 'no such project');

@ApiTags('workspace')
@ApiBearerAuth()
@Controller('v1/accounts/:id/projects')
export class ProjectsController {
  constructor(
    private readonly projects: ProjectsService,
    private readonly catalog: CatalogCache,
  ) {}

  @Get()
  @AccountRoute('usage:read')
  @ApiOperation({ summary: "The workspace's projects" })
  async list(@Param('id', AccountIdParam) accountId: string) {
    await requireAccount(this.catalog, accountId);
    return { projects: (await this.projects.list(accountId)).map(projectView) };
  }

  @Post()
  @AccountRoute('settings:manage')
  @ApiOperation({ summary: 'Create a project; usage and keys can be attributed to it' })
  async create(
    @Param('id', AccountIdParam) accountId: string,
    @Body() body: CreateProjectDto,
    @CurrentCaller() caller: Caller,
  ) {
    await requireAccount(this.catalog, accountId);
    return projectView(await this.projects.create(accountId, body.name.trim(), caller));
  }

  @Patch(':projectId')
  @AccountRoute('settings:manage')
  @ApiOperation({ summary: 'Rename, archive or restore a project' })
  async update(
    @Param('id', AccountIdParam) accountId: string,
    @Param('projectId', ProjectIdParam) projectId: string,
    @Body() body: UpdateProjectDto,
    @CurrentCaller() caller: Caller,
  ) {
    return projectView(
      await this.projects.update(
        accountId,
        projectId,
        { name: body.name?.trim(), archived: body.archived },
        caller,
      ),
    );
  }
}
