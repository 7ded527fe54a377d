/**
 * Label sources: where the outcomes that predictions are judged by come from, declared as code like a
 * feature view. A label is about an event (`timestampField`: e.g. a flight's departure) of some
 * entities (e.g. the route) and request fields (e.g. the departure time itself), known some time
 * after it (`known`). Predictions whose entity keys and request fields match get the label (join
 * rules in resolve.ts). Without a `source`, labels only arrive through the `feedback` API.
 */
import { z } from 'zod';
import {
  assertIdentifier,
  durationSchema,
  entityKeyText,
  featureTypeSchema,
  InvalidInputError,
  joinEntityKeys,
  parseDuration,
  parseTimestampText,
  sourceSchema,
  type EntityDefinition,
  type FeatureViewDefinition,
} from '../../feature-store/index.js';

const compareSchema = z
  .object({ op: z.enum(['>', '>=', '<', '<=', '==', '!=']), value: z.number() })
  .strict();

export const labelSourceSpecSchema = z
  .object({
    kind: z.literal('labelSource').optional(),
    name: z.string(),
    description: z.string().optional(),
    entities: z.array(z.object({ kind: z.literal('entity'), name: z.string(), joinKey: z.string() }).loose()),
    /** Source column(s) of each entity's key, as a feature view's entityColumns (default: the join key). */
    entityColumns: z
      .record(z.string(), z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]))
      .optional(),
    /**
     * Request fields of predictions that identify the event too (a flight is its route *and* its
     * departure), with the source column and type of each.
     */
    request: z
      .record(
        z.string(),
        z.object({ column: z.string().min(1), type: featureTypeSchema.exclude(['bool']) }).strict(),
      )
      .optional(),
    /** Rows to ingest; `timestampField` is the event's time. Absent: labels come through `feedback` only. */
    source: sourceSchema.optional(),
    /** The label: a 0/1 or bool column, or a number compared with a threshold (1 when it holds). */
    label: z.object({ column: z.string().min(1), compare: compareSchema.optional() }).strict(),
    /**
     * When an outcome becomes known, after its event: `after`, plus the minutes in column
     * `plusMinutesFrom` when given (a flight's arrival delay). Monitors as of an earlier time do not
     * see it. Default: at the event.
     */
    known: z
      .object({ after: durationSchema.optional(), plusMinutesFrom: z.string().min(1).optional() })
      .strict()
      .optional(),
    /** How long after a prediction the event it is labelled by may be (default 7d). */
    horizon: durationSchema.optional(),
  })
  .strict()
  .refine((s) => s.entities.length + Object.keys(s.request ?? {}).length > 0, {
    message: 'a label source needs at least one entity or request field to match predictions by',
  })
  .refine((s) => s.source === undefined || s.source.timestampField !== undefined, {
    message: "a label source's source needs a timestampField: the time of the event the label is about",
  });

export type LabelSourceDefinition = { kind: 'labelSource' } & z.infer<typeof labelSourceSpecSchema>;

export const DEFAULT_LABEL_HORIZON = '7d';

/** Declares a label source (validated now; registered by `kaizen apply`). */
export function defineLabelSource(spec: Omit<LabelSourceDefinition, 'kind'>): LabelSourceDefinition {
  const parsed = labelSourceSpecSchema.safeParse(spec);
  if (!parsed.success) {
    const issues = parsed.error.issues
      .map((i) => `${i.path.join('.') || '(source)'}: ${i.message}`)
      .join('; ');
    throw new InvalidInputError(`invalid label source ${JSON.stringify(spec.name)}: ${issues}`);
  }
  assertIdentifier('label source', spec.name);
  const fields = [...spec.entities.map((e) => e.name), ...Object.keys(spec.request ?? {})];
  if (new Set(fields).size !== fields.length)
    throw new InvalidInputError(
      `invalid label source "${spec.name}": entity and request field names must differ (${fields.join(', ')})`,
    );
  return { kind: 'labelSource', ...spec };
}

/** What makes a new version: everything but the description. */
export function labelSourceVersionedPart(def: LabelSourceDefinition): Record<string, unknown> {
  return {
    entities: def.entities.map((e) => ({ name: e.name, joinKey: e.joinKey })),
    entityColumns: def.entityColumns ?? null,
    request: def.request ?? null,
    source: def.source ?? null,
    label: def.label,
    known: def.known ?? null,
    horizon: def.horizon ?? null,
  };
}

/** A key field of labels and predictions: an entity (of one or more key columns), or a request field. */
interface KeyField {
  name: string;
  columns: number;
  type?: z.infer<typeof featureTypeSchema>;
}

function keyFields(def: LabelSourceDefinition): KeyField[] {
  return [
    ...def.entities.map((e) => {
      const columns = def.entityColumns?.[e.name] ?? e.joinKey;
      return { name: e.name, columns: typeof columns === 'string' ? 1 : columns.length };
    }),
    ...Object.entries(def.request ?? {}).map(([name, field]) => ({ name, columns: 1, type: field.type })),
  ];
}

/** The names of a label key's fields in key order: its entities, then its request fields. */
export const labelKeyFieldNames = (def: LabelSourceDefinition): string[] => keyFields(def).map((f) => f.name);

/**
 * The label source as a plain feature view over its source, for the feature store's row preparation:
 * request fields become one-column entities, so every key field is validated and spelled exactly as
 * materialization spells stored keys; `label` (and `known_minutes`) are its float64 features.
 */
export function labelRowsView(def: LabelSourceDefinition): FeatureViewDefinition {
  if (!def.source) throw new InvalidInputError(`label source "${def.name}" has no source to ingest`);
  const requestEntities: EntityDefinition[] = Object.keys(def.request ?? {}).map((name) => ({
    kind: 'entity',
    name,
    joinKey: name,
  }));
  const entityColumns: Record<string, string | string[]> = {};
  for (const e of def.entities) entityColumns[e.name] = def.entityColumns?.[e.name] ?? e.joinKey;
  for (const [name, field] of Object.entries(def.request ?? {})) entityColumns[name] = field.column;
  return {
    kind: 'featureView',
    name: def.name,
    entities: [
      ...def.entities.map((e) => ({ kind: 'entity' as const, name: e.name, joinKey: e.joinKey })),
      ...requestEntities,
    ],
    entityColumns,
    source: def.source,
    features: {
      label: { type: 'float64', column: def.label.column },
      ...(def.known?.plusMinutesFrom
        ? { known_minutes: { type: 'float64' as const, column: def.known.plusMinutesFrom } }
        : {}),
    },
  };
}

/** A key field's value as predict requests carry it: a key, a key's parts, a number or a time. */
export type KeyValue = string | number | readonly string[] | null | undefined;

/**
 * The label key's fields in key order, each with how one of its values (as a prediction carries it)
 * becomes its key part, spelled as label rows ingested from the source spell it; null when missing or
 * unusable (e.g. an unparseable time, or two parts for a one-column key): such a row matches no label.
 */
export function labelKeyParts(
  def: LabelSourceDefinition,
): Array<{ name: string; part: (value: KeyValue) => string | null }> {
  return keyFields(def).map((field) => ({
    name: field.name,
    part(value: KeyValue) {
      if (value === undefined || value === null) return null;
      if (field.type === 'timestamp') {
        const ms =
          typeof value === 'number' ? value : typeof value === 'string' ? parseTimestampText(value) : NaN;
        if (!Number.isFinite(ms)) return null;
        value = new Date(ms).toISOString();
      }
      try {
        return entityKeyText(
          value,
          { name: field.name, joinKey: field.name, columns: field.columns },
          'escaped',
          0,
        );
      } catch {
        return null;
      }
    },
  }));
}

/** The label key of an event from the values of its key fields (a prediction's entities and request fields). */
export function labelKeyOf(
  def: LabelSourceDefinition,
): (valueOf: (field: string) => KeyValue) => string | null {
  const fields = labelKeyParts(def);
  const parts = new Array<string>(fields.length);
  return (valueOf) => {
    for (let k = 0; k < fields.length; k++) {
      const part = fields[k].part(valueOf(fields[k].name));
      if (part === null) return null;
      parts[k] = part;
    }
    return joinEntityKeys(parts);
  };
}

/** 0/1 from a label value: the comparison when declared, else the value itself; null when neither. */
export function labelValue(def: LabelSourceDefinition, value: number): 0 | 1 | null {
  const compare = def.label.compare;
  if (!compare) return value === 0 || value === 1 ? value : null;
  const v = compare.value;
  const holds = {
    '>': value > v,
    '>=': value >= v,
    '<': value < v,
    '<=': value <= v,
    '==': value === v,
    '!=': value !== v,
  }[compare.op];
  return holds ? 1 : 0;
}

/** When the label of an event at `eventMs` becomes known (`knownMinutes`: the plusMinutesFrom value). */
export function knownAtMs(def: LabelSourceDefinition, eventMs: number, knownMinutes = 0): number {
  const after = def.known?.after ? parseDuration(def.known.after) : 0;
  return eventMs + after + Math.max(0, Number.isFinite(knownMinutes) ? knownMinutes : 0) * 60_000;
}
