import type { KaizenConfig } from '../../config.js';
import type { ApplyResult } from '../../feature-store/index.js';
import type { DefinitionApplyResult } from '../../models/definitions.js';
import { applyMonitoringDefinitions } from '../../monitoring/registry.js';
import { applyTrainingPipelines } from '../../training/registry.js';
import { loadDefinitions, type LoadedDefinitions } from '../load-definitions.js';
import { withRuntime, type RuntimeContext } from '../runtime-context.js';

const KIND_NAMES: Record<ApplyResult['kind'] | DefinitionApplyResult['kind'], string> = {
  entity: 'entity',
  featureView: 'feature view',
  onDemandView: 'on-demand view',
  labelSource: 'label source',
  monitorPolicy: 'monitor policy of',
  trainingPipeline: 'training pipeline of',
};

export function formatApplyResult(r: ApplyResult | DefinitionApplyResult): string[] {
  const what = r.kind === 'entity' ? `entity ${r.name}` : `${KIND_NAMES[r.kind]} ${r.name}@v${r.version}`;
  const status = { created: 'created', unchanged: 'unchanged', 'new-version': 'new version' }[r.status];
  return [`${what}: ${status}`, ...r.diff.map((line) => `    ${line}`)];
}

/** Registers everything a definitions file exports: the feature store's definitions, then monitoring's and training's. */
export async function applyLoaded(ctx: RuntimeContext, defs: LoadedDefinitions) {
  const hasStore = defs.entities.length + defs.views.length + defs.onDemandViews.length > 0;
  return [
    ...(hasStore ? await ctx.store.apply(defs) : []),
    ...(await applyMonitoringDefinitions(ctx.database.db, defs)),
    ...(await applyTrainingPipelines(ctx.database.db, defs.trainingPipelines)),
  ];
}

export async function applyCommand(config: KaizenConfig, file: string) {
  const defs = await loadDefinitions(file);
  return withRuntime(config, {}, async (ctx) => {
    const results = await applyLoaded(ctx, defs);
    for (const r of results) for (const line of formatApplyResult(r)) console.log(line);
    return results;
  });
}
