import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';
import type {
  EntityDefinition,
  FeatureViewDefinition,
  OnDemandViewDefinition,
} from '../feature-store/index.js';

export interface LoadedDefinitions {
  /** The definitions file, absolute: on-demand views are imported from it wherever they run. */
  module: string;
  entities: EntityDefinition[];
  views: FeatureViewDefinition[];
  onDemandViews: OnDemandViewDefinition[];
}

/** Imports a definitions file (TypeScript or JavaScript) and collects its exported definitions. */
export async function loadDefinitions(file: string): Promise<LoadedDefinitions> {
  const absolute = path.resolve(file);
  if (!existsSync(absolute)) throw new Error(`definitions file not found: ${absolute}`);
  const mod = (await import(pathToFileURL(absolute).href)) as Record<string, unknown>;
  const values = Object.values(mod).filter(
    (v): v is { kind: string } => !!v && typeof v === 'object' && 'kind' in v,
  );
  const entities = values.filter((v): v is EntityDefinition => v.kind === 'entity');
  const views = values.filter((v): v is FeatureViewDefinition => v.kind === 'featureView');
  const onDemandViews = values.filter((v): v is OnDemandViewDefinition => v.kind === 'onDemandView');
  if (views.length === 0 && entities.length === 0 && onDemandViews.length === 0)
    throw new Error(`${absolute} exports no entities, feature views or on-demand views`);
  return { module: absolute, entities, views, onDemandViews };
}
