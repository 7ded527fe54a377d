/**
 * The registry of definitions as code around models (label sources, monitor policies, training
 * pipelines): every applied
 * definition is kept as an immutable `name@vN` of its kind; applying an unchanged one is a no-op, a
 * changed one (by the fingerprint of its versioned part) becomes version N+1, as for feature views.
 */
import { createHash } from 'node:crypto';
import { and, desc, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { definitions } from '../db/schema.js';
import { canonicalJson, diffDefinitions, type ApplyStatus } from '../feature-store/index.js';
import { ModelNotFoundError } from './errors.js';

export type DefinitionKind = 'labelSource' | 'monitorPolicy' | 'trainingPipeline';

const KIND_NAMES: Record<DefinitionKind, string> = {
  labelSource: 'label source',
  monitorPolicy: 'monitor policy',
  trainingPipeline: 'training pipeline',
};

export interface DefinitionApplyResult {
  kind: DefinitionKind;
  name: string;
  status: ApplyStatus;
  version: number;
  /** For a new version: what changed against the previous one. */
  diff: string[];
}

export interface StoredDefinition<T> {
  name: string;
  version: number;
  definition: T;
}

/**
 * Registers `definition` under (kind, name: a label source's name, a policy's model): an unchanged versioned part (`versionedPart`: what
 * defines its behaviour, descriptions left out) → the latest version, else the next one. Concurrent
 * applies of one name are serialized by a transaction-scoped lock.
 */
export async function applyDefinition<T>(
  db: Db,
  kind: DefinitionKind,
  name: string,
  definition: T,
  versionedPart: (definition: T) => Record<string, unknown>,
): Promise<DefinitionApplyResult> {
  const fingerprint = createHash('sha256')
    .update(canonicalJson(versionedPart(definition)))
    .digest('hex');
  return db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext(${`kaizen.definitions:${kind}:${name}`}))`);
    const [latest] = await tx
      .select()
      .from(definitions)
      .where(and(eq(definitions.kind, kind), eq(definitions.name, name)))
      .orderBy(desc(definitions.version))
      .limit(1);
    if (latest?.fingerprint === fingerprint)
      return { kind, name, status: 'unchanged', version: latest.version, diff: [] };
    const version = (latest?.version ?? 0) + 1;
    await tx.insert(definitions).values({ kind, name, version, fingerprint, definition });
    return {
      kind,
      name,
      status: latest ? 'new-version' : 'created',
      version,
      diff: latest ? diffDefinitions(versionedPart(latest.definition as T), versionedPart(definition)) : [],
    };
  });
}

/** A registered definition (the latest version unless one is given); undefined when there is none. */
export async function findDefinition<T>(
  db: Db,
  kind: DefinitionKind,
  name: string,
  version?: number,
): Promise<StoredDefinition<T> | undefined> {
  const [row] = await db
    .select()
    .from(definitions)
    .where(
      and(
        eq(definitions.kind, kind),
        eq(definitions.name, name),
        ...(version === undefined ? [] : [eq(definitions.version, version)]),
      ),
    )
    .orderBy(desc(definitions.version))
    .limit(1);
  return row && { name: row.name, version: row.version, definition: row.definition as T };
}

/** Like findDefinition, but a missing one is a typed error naming what to apply. */
export async function getDefinition<T>(
  db: Db,
  kind: DefinitionKind,
  name: string,
  version?: number,
): Promise<StoredDefinition<T>> {
  const found = await findDefinition<T>(db, kind, name, version);
  if (!found) {
    throw new ModelNotFoundError(
      `unknown ${KIND_NAMES[kind]} "${name}"${version === undefined ? '' : `@v${version}`}: define it as code and run kaizen apply`,
    );
  }
  return found;
}
