/**
 * Promotion gates as configuration (design §3 "Evaluation"): a challenger is promoted only when every
 * gate passes. Relative gates compare with the champion evaluated on the same holdout; without a
 * champion (the first model) only the absolute gates apply. Every check carries a human-readable
 * reason so the outcome can be recorded and shown as is.
 */
import { z } from 'zod';
import type { ModelEvaluation } from './evaluation.js';
import { InvalidModelInputError } from './errors.js';

export interface GateConfig {
  /** δ: the challenger's AUC may be at most this much below the champion's. */
  maxAucDrop: number;
  /** ε: per slice, the challenger's tprGap and positiveRateGap may exceed the champion's by at most this. */
  maxFairnessGapIncrease: number;
  /** Absolute: the challenger's expected calibration error must not exceed this. */
  maxEce?: number;
  /** Absolute: the challenger's AUC must be at least this. */
  minAuc?: number;
}

export const DEFAULT_GATE_CONFIG: GateConfig = { maxAucDrop: 0.01, maxFairnessGapIncrease: 0.05 };

const fraction = z.number().min(0).max(1);

export const gateConfigSchema = z
  .object({
    maxAucDrop: fraction.default(DEFAULT_GATE_CONFIG.maxAucDrop),
    maxFairnessGapIncrease: fraction.default(DEFAULT_GATE_CONFIG.maxFairnessGapIncrease),
    maxEce: fraction.optional(),
    minAuc: fraction.optional(),
  })
  .strict();

// The schema's output must stay assignable to the interface.
const _schemaMatches: (c: z.output<typeof gateConfigSchema>) => GateConfig = (c) => c;
void _schemaMatches;

/** Validates gate configuration (e.g. from a model's params or a workflow input); fills defaults. */
export function parseGateConfig(input: unknown = {}): GateConfig {
  const parsed = gateConfigSchema.safeParse(input ?? {});
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(config)'}: ${i.message}`);
    throw new InvalidModelInputError(`invalid promotion gate config: ${issues.join('; ')}`);
  }
  return parsed.data;
}

export interface GateCheck {
  /** E.g. 'minAuc', 'maxEce', 'aucDrop', 'fairness.tprGap[origin_state]'. */
  gate: string;
  passed: boolean;
  /** The challenger's value of the checked metric. */
  challenger: number;
  /** The champion's value, for relative gates. */
  champion?: number;
  /** The bound the challenger's value is compared with (a minimum for AUC gates, else a maximum). */
  limit: number;
  reason: string;
}

export interface GateOutcome {
  passed: boolean;
  checks: GateCheck[];
}

/** Tolerance for floating-point noise at the boundary (a drop of exactly δ passes). */
const TOLERANCE = 1e-12;

const f3 = (x: number) => (Number.isNaN(x) ? 'NaN' : x.toFixed(3));

export function evaluateGates(
  config: GateConfig,
  challenger: ModelEvaluation,
  champion?: ModelEvaluation,
): GateOutcome {
  const checks: GateCheck[] = [];
  const auc = challenger.overall.auc;

  if (config.minAuc !== undefined) {
    const passed = auc >= config.minAuc - TOLERANCE;
    checks.push({
      gate: 'minAuc',
      passed,
      challenger: auc,
      limit: config.minAuc,
      reason: `AUC ${f3(auc)} is ${passed ? 'at least' : 'below'} the minimum ${f3(config.minAuc)}`,
    });
  }

  if (config.maxEce !== undefined) {
    const ece = challenger.overall.ece;
    const passed = ece <= config.maxEce + TOLERANCE;
    checks.push({
      gate: 'maxEce',
      passed,
      challenger: ece,
      limit: config.maxEce,
      reason: `calibration error (ECE) ${f3(ece)} is ${passed ? 'within' : 'above'} the maximum ${f3(config.maxEce)}`,
    });
  }

  if (champion) {
    const championAuc = champion.overall.auc;
    const limit = championAuc - config.maxAucDrop;
    const passed = auc >= limit - TOLERANCE;
    const diff = auc - championAuc;
    const relation = diff < 0 ? `${f3(-diff)} below` : diff > 0 ? `${f3(diff)} above` : 'equal to';
    checks.push({
      gate: 'aucDrop',
      passed,
      challenger: auc,
      champion: championAuc,
      limit,
      reason: `AUC ${f3(auc)} is ${relation} the champion's ${f3(championAuc)}; allowed drop ${config.maxAucDrop}`,
    });

    for (const [slice, gap] of Object.entries(challenger.fairness)) {
      const championGap = champion.fairness[slice];
      if (!championGap) continue; // a slice the champion was not evaluated on has nothing to compare
      for (const [metric, label] of [
        ['tprGap', 'TPR gap'],
        ['positiveRateGap', 'predicted-positive-rate gap'],
      ] as const) {
        const value = gap[metric];
        const base = championGap[metric];
        const bound = base + config.maxFairnessGapIncrease;
        const ok = value <= bound + TOLERANCE;
        const extremes = metric === 'tprGap' ? gap.tprExtremes : gap.positiveRateExtremes;
        const between = extremes ? ` (${extremes.max} vs ${extremes.min})` : '';
        checks.push({
          gate: `fairness.${metric}[${slice}]`,
          passed: ok,
          challenger: value,
          champion: base,
          limit: bound,
          reason:
            `${label} across ${slice} ${f3(value)}${between} ` +
            `${ok ? 'is within' : 'exceeds'} the champion's ${f3(base)} + allowed increase ` +
            `${config.maxFairnessGapIncrease}`,
        });
      }
    }
  }

  return { passed: checks.every((c) => c.passed), checks };
}
