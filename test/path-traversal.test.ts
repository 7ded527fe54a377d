/**
 * Path traversal: names that become paths under the artifacts directory (a model's directory, a
 * relative trainer output) are refused where the file would be written, before any work; the names
 * users define (models, pipelines, views, entities) are refused where they are defined. The CLI's
 * file arguments (--spine, --out, apply's module) name the user's own files and may be anywhere.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { ApplicationFailure } from '@temporalio/activity';
import { DefaultLogger } from '@temporalio/worker';
import { MockActivityEnvironment } from '@temporalio/testing';
import { artifactPath } from '../activities/artifact-paths.js';
import { createModelActivities, type ModelActivityDeps } from '../activities/models.js';
import { createTrainingActivities } from '../activities/training.js';
import { FAILURE_TYPES } from '../constants.js';
import type { Db } from '../db/client.js';
import { flightDelaysPipeline } from '../examples/flights/continuous-training.js';
import { airport } from '../examples/flights/features.js';
import { defineEntity, defineFeatureView, InvalidInputError } from '../feature-store/index.js';
import { InvalidModelInputError } from '../models/errors.js';
import { registerModelVersion } from '../models/registry.js';
import { defineTrainingPipeline } from '../training/pipeline.js';

const TRAVERSALS = ['../../escaped', '../escaped', 'a/../../../escaped', '/tmp/escaped', '..'];
/** The failures below are expected: keep the SDK's activity-failure warnings out of the output. */
const quiet = { logger: new DefaultLogger('ERROR') };

/** A non-retryable INVALID_INPUT activity failure saying the path would leave the directory. */
const invalidInput = (error: unknown) => {
  assert.ok(error instanceof ApplicationFailure, String(error));
  assert.equal(error.type, FAILURE_TYPES.invalidInput);
  assert.equal(error.nonRetryable, true);
  assert.match(error.message, /would lead outside /);
  return true;
};

describe('path traversal through names that become paths', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'kaizen-paths-'));
  const artifactsDir = path.join(root, 'home', 'artifacts');
  after(() => rmSync(root, { recursive: true, force: true }));

  test('artifactPath: inside the directory, or an InvalidInputError naming the path', () => {
    assert.equal(artifactPath(artifactsDir, 'models', 'delays'), path.join(artifactsDir, 'models', 'delays'));
    assert.equal(artifactPath(artifactsDir, 'models', '..foo'), path.join(artifactsDir, 'models', '..foo'));
    for (const name of TRAVERSALS)
      assert.throws(
        () => artifactPath(path.join(artifactsDir, 'models'), name),
        (error: Error) =>
          error instanceof InvalidInputError &&
          error.message === `${JSON.stringify(name)} would lead outside ${path.join(artifactsDir, 'models')}`,
      );
    assert.throws(() => artifactPath(artifactsDir, 'models', '../..'), InvalidInputError);
  });

  test('runExternalTrainer: a relative output leaving <artifactsDir>/models fails before the trainer runs', async () => {
    const activities = createTrainingActivities({ artifactsDir });
    const trainer = {
      command: process.execPath,
      args: ['-e', 'process.exit(3)'],
      train: 'a',
      valid: 'b',
      params: {},
    };
    for (const out of ['../../escaped', '../escaped', 'a/../../escaped']) {
      const env = new MockActivityEnvironment(undefined, quiet);
      await assert.rejects(env.run(activities.runExternalTrainer, { ...trainer, out }), invalidInput);
    }
    assert.equal(existsSync(path.join(root, 'escaped')), false);
    assert.equal(existsSync(path.join(root, 'home', 'escaped')), false);
  });

  test('trainBuiltinModel: a model name leaving <artifactsDir>/models fails before any work', async () => {
    const activities = createModelActivities({
      database: { db: {} as Db },
      store: { getTrainingSet: () => assert.fail('the training set was read') },
      artifactsDir,
    } as unknown as ModelActivityDeps);
    for (const model of TRAVERSALS) {
      const env = new MockActivityEnvironment(undefined, quiet);
      const input = { model, trainingSetId: 'ts_x', label: 'delayed', params: { kind: 'mlp' as const } };
      await assert.rejects(env.run(activities.trainBuiltinModel, input), invalidInput);
    }
  });

  test('names users define are refused where they are defined', async () => {
    for (const name of TRAVERSALS) {
      await assert.rejects(
        registerModelVersion({} as Db, {
          name,
          artifactPath: '/dev/null',
          trainer: 'builtin:mlp',
          params: {},
          trainingSetId: 'ts_x',
          features: [],
          metrics: {},
        }),
        InvalidModelInputError,
      );
      assert.throws(
        () => defineTrainingPipeline({ ...flightDelaysPipeline, model: name }),
        InvalidInputError,
      );
      assert.throws(() => defineEntity({ name, joinKey: 'airport' }), InvalidInputError);
      assert.throws(
        () =>
          defineFeatureView({
            name,
            entities: [airport],
            source: { kind: 'csv', path: 'a.csv' },
            features: { x: 'float64' },
          }),
        InvalidInputError,
      );
    }
  });
});
