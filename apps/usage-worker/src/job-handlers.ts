import { JobAttempt, JobName, JobPayloads } from '@app/queue';

export type JobHandler<N extends JobName> = (
  payload: JobPayloads[N],
  attempt: JobAttempt,
) => Promise<unknown>;

/** The handler of each named job; the object type makes a missing or extra job name a compile error. */
export type JobHandlerMap<Names extends JobName> = { [N in Names]: JobHandler<N> };

/** The metering hot path: the usage queue's one job. */
export type UsageJobName = JobName.MeterUsageBatch;
/** Every other job: auto-reload charges, invoice PDFs and exports, alert emails, maintenance. */
export type BackgroundJobName = Exclude<JobName, UsageJobName>;

/** Provided by UsageJobsModule: the process meters usage (WORKER_ROLE usage or all). */
export const USAGE_JOB_HANDLERS = Symbol('USAGE_JOB_HANDLERS');
/** Provided by BackgroundJobsModule: the process runs the other jobs (WORKER_ROLE background or all). */
export const BACKGROUND_JOB_HANDLERS = Symbol('BACKGROUND_JOB_HANDLERS');

export interface JobHandlers<Names extends JobName> {
  readonly byName: JobHandlerMap<Names>;
}
