import { JobName } from '@app/queue';
import { UsageBatchGrouper } from '@app/usage';
import { Injectable } from '@nestjs/common';
import { JobHandlerMap, JobHandlers, UsageJobName } from './job-handlers';

/** A processor only checks the payload's shape and calls one service method. */
@Injectable()
export class UsageJobHandlers implements JobHandlers<UsageJobName> {
  readonly byName: JobHandlerMap<UsageJobName>;

  constructor(usageGroups: UsageBatchGrouper) {
    this.byName = {
      [JobName.MeterUsageBatch]: async (payload, attempt) => {
        // The events' form is checked where they are read (MeterUsageBatchService.rate), once.
        if (!payload?.batchId) throw new Error('malformed usage batch payload');
        return usageGroups.charge(payload, attempt.firstDelivery);
      },
    };
  }
}
