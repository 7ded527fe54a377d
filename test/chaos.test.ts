/**
 * The chaos harness at CI size (scripts/chaos/harness.ts; `npm run chaos` kills 20 times on more
 * data): the flights pipeline — materialization, a two-shard training set, training, gates and
 * promotion — run by a worker process left alone, then by one killed with SIGKILL three times and
 * restarted while Postgres is killed and restarted once; every workflow completes and both runs end with the same store rows, ledger,
 * quarantine, training set, model versions and artifacts, aliases and audit log (checksums).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runChaos } from '../scripts/chaos/harness.js';

test('a worker killed at random moments, Postgres killed and restarted: nothing a clean run stores changes; the server answers 503, then recovers', async () => {
  const report = await runChaos({
    kills: 3,
    postgresOutages: 1,
    seed: 11,
    origins: ['SFO', 'OAK'],
    untilMs: Date.UTC(2001, 0, 29),
    runTimeoutMs: 5 * 60_000,
    log: (line) => console.error(line),
  });
  assert.equal(report.kills, 3, 'every kill landed while the pipeline ran');
  assert.equal(report.postgresOutages, 1);
  // The server beside it: 503 while Postgres was away, 200 otherwise, and 200 again after.
  assert.deepEqual(
    Object.keys(report.serving.statuses).filter((s) => s !== '200' && s !== '503'),
    [],
    JSON.stringify(report.serving.statuses),
  );
  assert.ok((report.serving.statuses['503'] ?? 0) > 0, 'the outage was seen');
  assert.ok(report.serving.recovered);
  assert.deepEqual(report.mismatches, []);
  assert.deepEqual(report.chaos, report.clean);
  // The comparison covers something: rows in every store, one promoted version.
  assert.match(String(report.clean['airport_departures@v1:offline']), /^[1-9]\d*:[0-9a-f]{32}$/);
  assert.match(String(report.clean.aliases), /champion=1/);
  assert.match(String(report.clean.modelVersions), /^1:/);
});
