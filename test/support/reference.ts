/**
 * Brute-force reference for hopping-window features: for every hop boundary t and window w, scan all
 * events of the entity with t - w <= ts < t. Deliberately naive and independent of the engine.
 */
export interface ReferenceEvents {
  key: string[];
  ts: number[];
  /** Input column values by column name. */
  columns: Record<string, number[]>;
}

export interface ReferenceAggregation {
  name: string;
  fn: 'count' | 'sum' | 'mean' | 'min' | 'max' | 'last';
  column?: string;
  compare?: { op: '>' | '>=' | '<' | '<=' | '==' | '!='; value: number };
}

export interface ReferenceRow {
  entityKey: string;
  eventTs: number;
  values: Record<string, number | null>;
}

const COMPARE = {
  '>': (a: number, b: number) => a > b,
  '>=': (a: number, b: number) => a >= b,
  '<': (a: number, b: number) => a < b,
  '<=': (a: number, b: number) => a <= b,
  '==': (a: number, b: number) => a === b,
  '!=': (a: number, b: number) => a !== b,
};

export function referenceWindows(
  events: ReferenceEvents,
  spec: {
    hopMs: number;
    windows: Array<{ label: string; ms: number }>;
    aggregations: ReferenceAggregation[];
  },
  range: { startMs: number; endMs: number },
): ReferenceRow[] {
  const byKey = new Map<string, number[]>();
  events.key.forEach((k, i) => (byKey.get(k) ?? byKey.set(k, []).get(k)!).push(i));
  const maxWindow = Math.max(...spec.windows.map((w) => w.ms));
  const rows: ReferenceRow[] = [];
  for (const key of [...byKey.keys()].sort()) {
    const idx = byKey.get(key)!;
    for (let t = Math.ceil(range.startMs / spec.hopMs) * spec.hopMs; t < range.endMs; t += spec.hopMs) {
      if (!idx.some((i) => events.ts[i] >= t - maxWindow && events.ts[i] < t)) continue;
      const values: Record<string, number | null> = {};
      for (const agg of spec.aggregations) {
        for (const w of spec.windows) {
          const inWindow = idx.filter((i) => events.ts[i] >= t - w.ms && events.ts[i] < t);
          const input = inWindow.map((i) => {
            const v = agg.column ? events.columns[agg.column][i] : 1;
            return agg.compare ? (COMPARE[agg.compare.op](v, agg.compare.value) ? 1 : 0) : v;
          });
          const name = `${agg.name}_${w.label}`;
          if (agg.fn === 'count') values[name] = inWindow.length;
          else if (input.length === 0) values[name] = null;
          else if (agg.fn === 'sum') values[name] = input.reduce((a, b) => a + b, 0);
          else if (agg.fn === 'mean') values[name] = input.reduce((a, b) => a + b, 0) / input.length;
          else if (agg.fn === 'min') values[name] = Math.min(...input);
          else if (agg.fn === 'max') values[name] = Math.max(...input);
          else {
            // last: greatest event time, ties to the later source row
            let best = 0;
            for (let j = 1; j < inWindow.length; j++)
              if (events.ts[inWindow[j]] >= events.ts[inWindow[best]]) best = j;
            values[name] = input[best];
          }
        }
      }
      rows.push({ entityKey: key, eventTs: t, values });
    }
  }
  return rows;
}
