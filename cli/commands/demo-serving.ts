/**
 * The demo's last step: the champion served over HTTP by a `kaizen serve` server in this process,
 * called through the typed client a product service would use (both calls batched in one request).
 */
import type { KaizenConfig } from '../../config.js';
import type { Database } from '../../db/client.js';
import { createApiKey, revokeApiKey } from '../../serving/api-keys.js';
import { createServingDeps } from '../../serving/app.js';
import { createKaizenClient } from '../../serving/client.js';
import { startServer } from '../../serving/server.js';

/** Late-June flights; `departure` feeds the on-demand features (hour of day, day of week). */
const FLIGHTS = [
  { airport: 'ORD', route: ['ORD', 'LGA'], departure: '2001-06-29T17:00:00Z' },
  { airport: 'SFO', route: ['SFO', 'LAX'], departure: '2001-06-29T07:30:00Z' },
  { airport: 'ATL', route: ['ATL', 'DFW'], departure: '2001-06-30T20:15:00Z' },
];

export async function serveDemo(config: KaizenConfig, database: Database, model: string): Promise<void> {
  const deps = createServingDeps(config, database, () => undefined);
  const server = await startServer({ deps, ...config.serving, port: 0, host: '127.0.0.1' });
  const key = await createApiKey(database.db, { name: 'demo', scopes: ['features:read', 'predict'] });
  try {
    const client = createKaizenClient({ url: server.url, apiKey: key.secret });
    const [features, predicted] = await Promise.all([
      client.features.get.query({ featureService: model, entities: FLIGHTS }),
      client.predict.mutate({ model, entities: FLIGHTS }),
    ]);
    console.log(`  ${server.url}: features.get + predict in one batched HTTP request`);
    FLIGHTS.forEach((flight, i) => {
      const statuses = Object.entries(features.results[i].views)
        .map(([view, v]) => `${view} ${v.status}`)
        .join(', ');
      const score = predicted.predictions[i].score.toFixed(3);
      console.log(
        `  ${flight.route.join(' → ')} ${flight.departure}: P(delay > 15 min) ${score}  [${statuses}]`,
      );
    });
    console.log(
      `  ${model}@v${predicted.version}; windowed features are 'expired' today (their TTLs run out in 2001,`,
    );
    console.log('  and serving enforces TTLs as training did); the model imputes them as it learned to.');
  } finally {
    await revokeApiKey(database.db, key.id);
    await server.close();
  }
}
