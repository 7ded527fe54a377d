import os from 'node:os';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { KaizenConfig } from '../../config.js';
import type { ModelProfile } from '../../monitoring/profile.js';
import type { Db } from '../../db/client.js';
import { rollbackChampion, setAlias, setShadow } from '../../models/registry.js';
import { approveSignal, type trainingPipelineWorkflow } from '../../workflows/index.js';
import { withRuntime } from '../runtime-context.js';
import {
  AUDIT_ENTRIES,
  describeModel,
  listModels,
  type ModelDetails,
  type ModelSummary,
} from '../../models/catalog.js';

/** Who made a change from the CLI, as recorded in the audit log. */
export const cliActor = () => `cli:${os.userInfo().username}`;

export const iso = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const v = (version: number | null) => (version === null ? '—' : `v${version}`);

export function formatModelList(rows: ModelSummary[]): string {
  if (rows.length === 0) return 'no models registered (train one with `kaizen train`)';
  const width = Math.max(5, ...rows.map((r) => r.name.length));
  const lines = [`${'model'.padEnd(width)}  latest  champion  challenger`];
  for (const r of rows) {
    lines.push(
      `${r.name.padEnd(width)}  ${v(r.latestVersion).padEnd(6)}  ${v(r.champion).padEnd(8)}  ${v(r.challenger)}`,
    );
  }
  return lines.join('\n');
}

export function formatModelDetails(d: ModelDetails): string {
  const lines = [`model ${d.name} (latest v${d.latestVersion})`, '', 'versions:'];
  const trainerWidth = Math.max(7, ...d.versions.map((r) => r.trainer.length));
  const setWidth = Math.max(12, ...d.versions.map((r) => r.trainingSetId.length));
  lines.push(
    `  ${'version'.padEnd(7)}  ${'trainer'.padEnd(trainerWidth)}  ${'training set'.padEnd(setWidth)}  ${'created'.padEnd(20)}  valid AUC`,
  );
  for (const r of d.versions) {
    const auc = r.validationAuc === undefined ? '—' : r.validationAuc.toFixed(4);
    lines.push(
      `  ${`v${r.version}`.padEnd(7)}  ${r.trainer.padEnd(trainerWidth)}  ${r.trainingSetId.padEnd(setWidth)}  ${iso(r.createdAt).padEnd(20)}  ${auc}`,
    );
  }
  const trained = d.versions.filter((r) => r.lineage);
  if (trained.length > 0) lines.push('', 'lineage (continuous training):');
  for (const r of trained) {
    const l = r.lineage!;
    lines.push(
      `  v${r.version}: ${l.trigger} run of pipeline ${l.pipeline} as of ${l.asOf} (${l.workflowId})`,
    );
    for (const a of l.alerts)
      lines.push(
        `    alert #${a.id} ${a.kind} ${a.subject || '(all)'}${a.driftType ? ` [${a.driftType}]` : ''}, window ${a.window}`,
      );
  }
  const champion = d.aliases.find((a) => a.alias === 'champion')?.version;
  const profiled = d.versions.find((r) => r.version === (champion ?? d.latestVersion));
  if (profiled) lines.push('', ...formatProfile(profiled.version, profiled.profile));
  lines.push('', 'aliases:');
  if (d.aliases.length === 0) lines.push('  (none)');
  for (const a of d.aliases) lines.push(`  ${a.alias.padEnd(10)} v${a.version} (since ${iso(a.updatedAt)})`);
  lines.push('', `audit (last ${AUDIT_ENTRIES}, newest first):`);
  if (d.audit.length === 0) lines.push('  (no alias changes)');
  for (const e of d.audit) {
    lines.push(
      `  ${iso(e.at)}  ${e.alias.padEnd(10)} ${v(e.fromVersion)} → ${v(e.toVersion)}  by ${e.actor}: ${e.reason}`,
    );
  }
  return lines.join('\n');
}

const num = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(4)).toString() : '—');
const pct = (x: number) => `${(100 * x).toFixed(1)}%`;

/** The reference profile the monitor compares live traffic with: one line per input feature. */
export function formatProfile(version: number, profile: ModelProfile | null): string[] {
  if (!profile)
    return [`profile of v${version}: none (versions trained before profiles existed are not monitored)`];
  const width = Math.max(7, ...Object.keys(profile.features).map((f) => f.length));
  const lines = [
    `profile of v${version} (${profile.rows.toLocaleString('en-US')} training rows; the monitor's reference):`,
    `  ${'feature'.padEnd(width)}  nulls   range / categories`,
  ];
  for (const [name, f] of Object.entries(profile.features)) {
    const shape =
      f.kind === 'numeric'
        ? `${num(f.min)} .. ${num(f.max)}, mean ${num(f.mean)}, std ${num(f.std)}, ${f.proportions.length} bins`
        : `${Object.keys(f.categories).length} categories${f.otherRate > 0 ? ` (+ ${pct(f.otherRate)} other)` : ''}`;
    lines.push(`  ${name.padEnd(width)}  ${pct(f.nullRate).padStart(6)}  ${shape}`);
  }
  const s = profile.score;
  lines.push(
    `  ${'score'.padEnd(width)}          validation: mean ${num(s.mean)}, ${pct(s.predictedPositiveRate)} predicted positive, ${pct(s.positiveRate)} labelled positive`,
  );
  return lines;
}

/** `3` or `v3`. */
export function parseVersionArgument(text: string): number {
  const match = /^v?(\d+)$/.exec(text.trim());
  const n = match ? Number(match[1]) : NaN;
  if (!Number.isSafeInteger(n) || n < 1)
    throw new Error(`invalid version "${text}": expected a positive integer such as 3 or v3`);
  return n;
}

export async function promoteModel(
  db: Db,
  model: string,
  version: number,
  opts: { actor: string; reason?: string },
): Promise<string> {
  const { from, to } = await setAlias(db, {
    model,
    alias: 'champion',
    version,
    actor: opts.actor,
    reason: opts.reason ?? 'promoted by hand',
  });
  return `${model}: champion ${v(from)} → ${v(to)} (by ${opts.actor})`;
}

export async function rollbackModel(
  db: Db,
  model: string,
  opts: { actor: string; reason?: string },
): Promise<string> {
  const { from, to } = await rollbackChampion(db, model, opts.actor, opts.reason ?? 'rolled back by hand');
  return `${model}: champion ${v(from)} → ${v(to)} (rolled back by ${opts.actor})`;
}

export async function modelsListCommand(config: KaizenConfig): Promise<void> {
  await withRuntime(config, {}, async ({ database }) => {
    console.log(formatModelList(await listModels(database.db)));
  });
}

export async function modelsShowCommand(config: KaizenConfig, model: string): Promise<void> {
  await withRuntime(config, {}, async ({ database }) => {
    console.log(formatModelDetails(await describeModel(database.db, model)));
  });
}

export async function modelsPromoteCommand(
  config: KaizenConfig,
  model: string,
  version: string,
  opts: { reason?: string },
): Promise<void> {
  const n = parseVersionArgument(version);
  await withRuntime(config, {}, async ({ database }) => {
    console.log(await promoteModel(database.db, model, n, { actor: cliActor(), reason: opts.reason }));
  });
}

export async function modelsRollbackCommand(
  config: KaizenConfig,
  model: string,
  opts: { reason?: string },
): Promise<void> {
  await withRuntime(config, {}, async ({ database }) => {
    console.log(await rollbackModel(database.db, model, { actor: cliActor(), reason: opts.reason }));
  });
}

/** Answers a training pipeline waiting for approval (`--approval-timeout`). */
export async function modelsApproveCommand(
  config: KaizenConfig,
  workflowId: string,
  opts: { reject?: boolean; reason?: string },
): Promise<void> {
  const decision = {
    approved: !opts.reject,
    by: cliActor(),
    ...(opts.reason ? { reason: opts.reason } : {}),
  };
  await withRuntime(config, { temporal: true }, async ({ temporal }) => {
    const handle = temporal!.workflow.getHandle<typeof trainingPipelineWorkflow>(workflowId);
    try {
      await handle.signal(approveSignal, decision);
    } catch (error) {
      if (error instanceof WorkflowNotFoundError)
        throw new Error(`no running training pipeline "${workflowId}" (finished, or never started)`);
      throw error;
    }
    console.log(`${workflowId}: ${decision.approved ? 'approved' : 'rejected'} by ${decision.by}`);
  });
}

/** `on` / `off`: whether servers also score the challenger (off the request path) and log both. */
export async function modelsShadowCommand(
  config: KaizenConfig,
  model: string,
  state: string,
  opts: { reason?: string },
): Promise<void> {
  if (state !== 'on' && state !== 'off')
    throw new Error(`invalid shadow state "${state}": expected on or off`);
  await withRuntime(config, {}, async ({ database }) => {
    const actor = cliActor();
    await setShadow(database.db, model, state === 'on', actor, opts.reason ?? `shadow ${state} by hand`);
    console.log(`${model}: shadow scoring of the challenger ${state} (by ${actor})`);
  });
}
