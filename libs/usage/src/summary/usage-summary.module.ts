import { Module } from '@nestjs/common';
import { UsageSummaryService } from './usage-summary.service';

/** The usage summary (spend by day, model, key and project), for the api app. DATABASE is global. */
@Module({ providers: [UsageSummaryService], exports: [UsageSummaryService] })
export class UsageSummaryModule {}
