export * from './invoices-csv-export.service';
export * from './invoice-zip';
export * from './invoice-export.view';
export * from './invoice-export-range';
export * from './invoice-exports.service';
export * from './build-invoice-export.service';
export * from './invoice-exports.controller';
export * from './invoice-exports.module';
