/** `/readyz`: Postgres answers and every preloaded champion is loaded. */
import type pg from 'pg';
import type { ServingDeps } from './context.js';

/** A load balancer probes often: an unreachable database must answer "not ready" fast, not hang. */
const DATABASE_TIMEOUT_MS = 1000;

export interface Readiness {
  ready: boolean;
  database: boolean;
  models: boolean;
}

export async function checkReadiness(deps: Pick<ServingDeps, 'pool' | 'models'>): Promise<Readiness> {
  const [database, models] = await Promise.all([databaseAnswers(deps.pool), deps.models.ready()]);
  return { ready: database && models, database, models };
}

async function databaseAnswers(pool: pg.Pool): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), DATABASE_TIMEOUT_MS);
  });
  try {
    const ping = pool.query('SELECT 1').then(
      () => true,
      () => false,
    );
    return await Promise.race([ping, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
