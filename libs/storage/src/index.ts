export * from './storage-options';
export * from './ensure-bucket';
export * from './object-storage.service';
export * from './storage.module';
