import { CreateSchema1795317151174 } from './1795317151174-CreateSchema.js';

/** Every migration in order. A new one made by `npm run migration:generate` is added here. */
export const migrations = [CreateSchema1795317151174];
