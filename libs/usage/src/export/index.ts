export * from './csv-stream';
export * from './export-range';
export * from './csv-export-slots';
export * from './export-outcome';
export * from './usage-csv-export.service';
export * from './usage-csv.controller';
export * from './usage-export.module';
