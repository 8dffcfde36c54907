export * from './usd';
export * from './event-cost';
