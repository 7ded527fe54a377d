import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';
import type { EntityDefinition, FeatureViewDefinition } from '../feature-store/types.js';

/** Imports a definitions file (TypeScript or JavaScript) and collects its exported entities and views. */
export async function loadDefinitions(
  file: string,
): Promise<{ entities: EntityDefinition[]; views: FeatureViewDefinition[] }> {
  const absolute = path.resolve(file);
  if (!existsSync(absolute)) throw new Error(`definitions file not found: ${absolute}`);
  const mod = (await import(pathToFileURL(absolute).href)) as Record<string, unknown>;
  const values = Object.values(mod).filter(
    (v): v is { kind: string } => !!v && typeof v === 'object' && 'kind' in v,
  );
  const entities = values.filter((v): v is EntityDefinition => v.kind === 'entity');
  const views = values.filter((v): v is FeatureViewDefinition => v.kind === 'featureView');
  if (views.length === 0 && entities.length === 0)
    throw new Error(`${absolute} exports no entities or feature views`);
  return { entities, views };
}
