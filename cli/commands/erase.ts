import type { KaizenConfig } from '../../config.js';
import { InvalidInputError } from '../../feature-store/index.js';
import { runErasure } from '../../runtime/erasure-runner.js';
import type { EraseEntityResult } from '../../workflows/index.js';
import { withRuntime } from '../runtime-context.js';
import { cliActor } from './models.js';

export interface EraseOptions {
  entity: string;
  reason: string;
}

/** `airport=ORD`, or a key of several columns as a JSON array: `route=["ORD","LAX"]`. */
export function parseEntityKey(text: string): { entity: string; parts: string[] } {
  const eq = text.indexOf('=');
  const entity = text.slice(0, eq).trim();
  const value = text.slice(eq + 1);
  if (eq <= 0 || value.trim() === '')
    throw new InvalidInputError(`invalid --entity "${text}": expected <entity>=<key>, e.g. airport=ORD`);
  if (!value.trimStart().startsWith('[')) return { entity, parts: [value] };
  let parts: unknown;
  try {
    parts = JSON.parse(value);
  } catch {
    throw new InvalidInputError(
      `invalid --entity "${text}": a key of several parts is a JSON array of strings`,
    );
  }
  if (!Array.isArray(parts) || parts.length === 0 || parts.some((p) => typeof p !== 'string'))
    throw new InvalidInputError(
      `invalid --entity "${text}": a key of several parts is a JSON array of strings`,
    );
  return { entity, parts };
}

export function formatErasure(workflowId: string, r: EraseEntityResult): string {
  const lines = [`erasure ${r.id} done (workflow ${workflowId})`];
  for (const v of r.views)
    lines.push(
      `  ${v.view}@v${v.version}: ${v.offlineRows} offline rows, ${v.onlineRows} online rows, ` +
        `${v.quarantineEntries} quarantine entries, ${v.exportsRemoved} cached exports removed`,
    );
  for (const t of r.trainingSets)
    lines.push(
      `  training set ${t.id}: ${t.rowsRemoved} rows removed, content hash now ${t.contentHash.slice(0, 12)}`,
    );
  lines.push(
    `  prediction log: ${r.predictionLog.predictions} predictions, ${r.predictionLog.feedback} labels joined to them`,
  );
  for (const l of r.labels)
    lines.push(`  labels of ${l.source}: ${l.labels}, ${l.quarantineEntries} quarantine entries`);
  if (r.modelsTrainedOnKey.length > 0)
    lines.push(
      `  trained on the key's rows (retrain to forget it): ${r.modelsTrainedOnKey.map((m) => `${m.model}@v${m.version}`).join(', ')}`,
    );
  return lines.join('\n');
}

/** `kaizen erase --entity airport=ORD --reason "…"`: the erasure workflow, its outcome printed. */
export async function eraseCommand(config: KaizenConfig, opts: EraseOptions): Promise<void> {
  const { entity, parts } = parseEntityKey(opts.entity);
  await withRuntime(config, { temporal: true, worker: true }, async ({ temporal }) => {
    const { workflowId, result } = await runErasure(
      { temporal: temporal!, taskQueue: config.taskQueue },
      { entity, parts, requestedBy: cliActor(), reason: opts.reason },
    );
    console.log(formatErasure(workflowId, result));
  });
}
