import type { KaizenConfig } from '../../config.js';
import type { ApplyResult } from '../../feature-store/index.js';
import { loadDefinitions } from '../load-definitions.js';
import { withRuntime } from '../runtime-context.js';

export function formatApplyResult(r: ApplyResult): string[] {
  const what =
    r.kind === 'entity'
      ? `entity ${r.name}`
      : `${r.kind === 'onDemandView' ? 'on-demand view' : 'feature view'} ${r.name}@v${r.version}`;
  const status = { created: 'created', unchanged: 'unchanged', 'new-version': 'new version' }[r.status];
  return [`${what}: ${status}`, ...r.diff.map((line) => `    ${line}`)];
}

export async function applyCommand(config: KaizenConfig, file: string): Promise<ApplyResult[]> {
  const defs = await loadDefinitions(file);
  return withRuntime(config, {}, async ({ store }) => {
    const results = await store.apply(defs);
    for (const r of results) for (const line of formatApplyResult(r)) console.log(line);
    return results;
  });
}
