/**
 * No training/serving skew: `predict` for 1,000 flights (online features through the cache, on-demand
 * features from the request, the champion's ONNX in the model server) equals scoring the same rows
 * of the offline, point-in-time training set with the same ONNX model.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { FLIGHT_FEATURES, flightFeatureRefs } from '../examples/flights/training-set.js';
import { featureColumnName } from '../feature-store/refs/feature-ref.js';
import { readLabeledArrow } from '../models/arrow-table.js';
import { createCaller } from '../serving/router.js';
import { createOnnxScorer } from '../models/onnx-scorer.js';
import { startFlightsChampion, type FlightsChampion } from './support/flights-champion.js';

const FLIGHTS = 1000;
const MODEL = 'no_skew';

describe('no skew: served predictions equal offline scoring of the training set (Postgres + Temporal)', () => {
  let fixture: FlightsChampion;

  before(async () => {
    fixture = await startFlightsChampion({ model: MODEL, features: flightFeatureRefs(), flights: FLIGHTS });
  });

  after(async () => {
    await fixture?.close();
  });

  test(`predict for ${FLIGHTS} flights equals the offline scores of the training set rows (1e-6)`, async () => {
    const { sample, spineRows, manifest, deps } = fixture;
    assert.equal(manifest.rowCount, FLIGHTS);
    const caller = createCaller({ deps, key: { id: 't', name: 't', scopes: ['predict'] } });
    const entities = spineRows.map((r, j) => ({
      airport: sample.origin[r],
      // The departure as ISO text or epoch ms.
      route: [sample.origin[r], sample.destination[r]],
      departure: j % 3 ? new Date(sample.date[r]).toISOString() : sample.date[r],
    }));
    const served: number[] = [];
    for (let from = 0; from < entities.length; from += 250) {
      const answer = await caller.predict({ model: MODEL, entities: entities.slice(from, from + 250) });
      assert.equal(answer.version, 1);
      served.push(...answer.predictions.map((p) => p.score));
    }

    const offline = readLabeledArrow(readFileSync(manifest.path), 'delayed');
    const scorer = await createOnnxScorer(readFileSync(fixture.artifactPath));
    const expected = await scorer.score(offline.columns, offline.rows);
    await scorer.release();
    let maxDiff = 0;
    for (let i = 0; i < FLIGHTS; i++) maxDiff = Math.max(maxDiff, Math.abs(served[i] - expected[i]));
    assert.ok(maxDiff <= 1e-6, `max |served - offline| = ${maxDiff}`);

    // The comparison is not vacuous: features are mostly present, and they vary.
    const nonNull = (column: string) => offline.columns[column].valid.reduce((a, b) => a + b, 0);
    for (const view of ['airport_departures', 'route_delays', 'airport_info', 'departure_time']) {
      const column = featureColumnName(view, FLIGHT_FEATURES[view as keyof typeof FLIGHT_FEATURES][0]);
      assert.ok(nonNull(column) > FLIGHTS / 2, `${column}: ${nonNull(column)} values`);
    }
    assert.ok(new Set(expected).size > 50, 'scores vary across flights');
  });
});
