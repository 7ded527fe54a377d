import type {
  FeatureField,
  FeatureSpec,
  FeatureType,
  FeatureViewDefinition,
  WindowTransform,
} from './types.js';

/** A plain view's feature with the defaults of FeatureSpec filled in. */
export interface ResolvedFeature {
  name: string;
  type: FeatureType;
  /** Source column the value is read from. */
  column: string;
  allowNonFinite: boolean;
}

/** Plain views: declared features in declaration order, with defaults applied; [] for window views. */
export function plainFeatures(view: FeatureViewDefinition): ResolvedFeature[] {
  return Object.entries(view.features ?? {}).map(([name, raw]) => {
    const spec: FeatureSpec = typeof raw === 'string' ? { type: raw } : raw;
    return {
      name,
      type: spec.type,
      column: spec.column ?? name,
      allowNonFinite: spec.allowNonFinite === true,
    };
  });
}

/** Output name of an aggregation over one window, e.g. `mean_delay_24h`. */
export function windowFeatureName(aggregation: string, window: string): string {
  return `${aggregation}_${window}`;
}

/**
 * Output fields of a window transform: for each aggregation, for each window. Counts are int64
 * (an empty window counts 0); every other aggregate is float64.
 */
export function windowFields(transform: WindowTransform): FeatureField[] {
  return transform.aggregations.flatMap((agg) =>
    transform.windows.map((w) => ({
      name: windowFeatureName(agg.name, w),
      type: (agg.fn === 'count' ? 'int64' : 'float64') as FeatureType,
    })),
  );
}

/** The output schema (name and type per feature, in output order) of a view. */
export function featureFields(view: FeatureViewDefinition): FeatureField[] {
  if (view.transform) return windowFields(view.transform);
  return plainFeatures(view).map((f) => ({ name: f.name, type: f.type }));
}
