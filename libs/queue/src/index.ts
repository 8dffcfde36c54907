export * from './queue-names';
export * from './job-payloads';
export * from './job-ids';
export * from './worker-settings';
export * from './usage-window';
export * from './queue-error-log';
export * from './close-worker';
export * from './queue-options';
