import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';
import type {
  EntityDefinition,
  FeatureViewDefinition,
  OnDemandViewDefinition,
} from '../feature-store/index.js';
import type { LabelSourceDefinition } from '../monitoring/labels/label-source.js';
import type { MonitorPolicy } from '../monitoring/policy.js';
import type { TrainingPipelineDefinition } from '../training/pipeline.js';

export interface LoadedDefinitions {
  /** The definitions file, absolute: on-demand views are imported from it wherever they run. */
  module: string;
  entities: EntityDefinition[];
  views: FeatureViewDefinition[];
  onDemandViews: OnDemandViewDefinition[];
  labelSources: LabelSourceDefinition[];
  monitorPolicies: MonitorPolicy[];
  trainingPipelines: TrainingPipelineDefinition[];
}

/** Imports a definitions file (TypeScript or JavaScript) and collects its exported definitions. */
export async function loadDefinitions(file: string): Promise<LoadedDefinitions> {
  const absolute = path.resolve(file);
  if (!existsSync(absolute)) throw new Error(`definitions file not found: ${absolute}`);
  const mod = (await import(pathToFileURL(absolute).href)) as Record<string, unknown>;
  const values = Object.values(mod).filter(
    (v): v is { kind: string } => !!v && typeof v === 'object' && 'kind' in v,
  );
  const of = <T>(kind: string) => values.filter((v) => v.kind === kind) as T[];
  const loaded = {
    module: absolute,
    entities: of<EntityDefinition>('entity'),
    views: of<FeatureViewDefinition>('featureView'),
    onDemandViews: of<OnDemandViewDefinition>('onDemandView'),
    labelSources: of<LabelSourceDefinition>('labelSource'),
    monitorPolicies: of<MonitorPolicy>('monitorPolicy'),
    trainingPipelines: of<TrainingPipelineDefinition>('trainingPipeline'),
  };
  if (Object.values(loaded).every((v) => Array.isArray(v) && v.length === 0))
    throw new Error(
      `${absolute} exports no definitions (entities, feature views, on-demand views, label sources, monitor policies, training pipelines)`,
    );
  return loaded;
}
