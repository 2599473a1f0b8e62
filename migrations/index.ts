import { CreateSchema1795317151174 } from './1795317151174-CreateSchema.js';
import { DurableTurns1796290468991 } from './1796290468991-DurableTurns.js';
import { RateLimitHits1796304163286 } from './1796304163286-RateLimitHits.js';

/** Every migration in order. A new one made by `npm run migration:generate` is added here. */
export const migrations = [CreateSchema1795317151174, DurableTurns1796290468991, RateLimitHits1796304163286];
