import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { connectDatabase, runMigrations, type Database } from '../../db/client.js';
import { trainingSets } from '../../db/schema.js';
import { registerModelVersion, sha256 } from '../../models/registry.js';
import { createTestDatabase } from './database.js';

export interface RegistryFixture {
  database: Database;
  /** Registers the next version of `name` with an artifact holding `bytes`. */
  register(
    name: string,
    bytes: string | Uint8Array,
    metrics?: Record<string, unknown>,
  ): ReturnType<typeof registerModelVersion>;
  close(): Promise<void>;
}

export const FIXTURE_TRAINING_SET = 'ts_fixture';

/** A fresh database with the registry migrated and one (empty) training set for versions to point at. */
export async function startRegistryFixture(): Promise<RegistryFixture> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'kaizen-models-'));
  const testDb = await createTestDatabase();
  const database = connectDatabase(testDb.url);
  await runMigrations(database);
  await database.db.insert(trainingSets).values({
    id: FIXTURE_TRAINING_SET,
    path: '/dev/null',
    spineSha256: '0',
    rowCount: 0,
    contentHash: '0',
    manifest: {},
  });
  return {
    database,
    register(name, bytes, metrics = {}) {
      const artifactPath = path.join(dir, `${name}-${sha256(Buffer.from(bytes)).slice(0, 8)}.onnx`);
      writeFileSync(artifactPath, bytes);
      return registerModelVersion(database.db, {
        name,
        artifactPath,
        trainer: 'builtin:mlp',
        params: { kind: 'mlp' },
        trainingSetId: FIXTURE_TRAINING_SET,
        features: ['airport_departures@v1:departures_1h'],
        metrics,
      });
    },
    async close() {
      await database.close();
      await testDb.drop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
