/**
 * Exports a BuiltinModel as a self-contained ONNX graph over raw feature columns, computing what
 * `predictProbabilities` (model.ts) computes. Inputs (onnx-proto.ts NUMERIC_BLOCK): the numeric
 * columns as one float [N, n] block with NaN for missing, its columns named in the model's metadata;
 * each categorical column as a string [N, 1] input named like it, "" for missing. Outputs `logit` and
 * `probability`, both float [N, 1].
 *
 * One block rather than a [N, 1] input per column: onnxruntime pays per input (a tensor to create and
 * bind, then a Concat) and per node, and the block is imputed and scaled by one Where, Sub and Div (the
 * per-column nodes took 4/5 of a 20k-row run of the flights model). The block's layout (scaled values,
 * then missing indicators, then one-hot categories) differs from the model's (each input's columns
 * together): the first layer's weights are permuted to match, which changes no product, only the order
 * Gemm sums them in.
 */
import { inputWidth, type BuiltinModel, type InputColumn } from './model.js';
import {
  AttributeType,
  DataType,
  encodeModel,
  NUMERIC_BLOCK,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './onnx-proto.js';

const OUTPUTS = ['logit', 'probability'] as const;
const ML_DOMAIN = 'ai.onnx.ml';

type NumericInput = Extract<InputColumn, { kind: 'numeric' }>;
type CategoricalInput = Extract<InputColumn, { kind: 'categorical' }>;

export function exportOnnx(model: BuiltinModel): Uint8Array {
  validate(model);
  const graph = new GraphBuilder([...model.inputs.map((c) => c.name), NUMERIC_BLOCK.input, ...OUTPUTS]);
  const { parts, order } = inputNodes(graph, model.inputs);
  let x = graph.node('Concat', parts, [int('axis', 1)]);
  model.layers.forEach((layer, l) => {
    const last = l === model.layers.length - 1;
    const weights = l === 0 ? permuteInputs(layer.weights, layer.outputs, order) : layer.weights;
    const w = graph.floats(`w${l}`, weights, [layer.outputs, layer.inputs]);
    const b = graph.floats(`b${l}`, layer.bias, [layer.outputs]);
    // Weights are outputs × inputs, so B is used transposed.
    const gemmOut = last && layer.activation === 'none' ? 'logit' : undefined;
    x = graph.node('Gemm', [x, w, b], [int('transB', 1)], gemmOut);
    if (layer.activation === 'relu') x = graph.node('Relu', [x], [], last ? 'logit' : undefined);
  });
  graph.node('Sigmoid', [x], [], 'probability');

  const numeric = model.inputs.filter((c) => c.kind === 'numeric').map((c) => c.name);
  const categorical = model.inputs.filter((c) => c.kind === 'categorical').map((c) => c.name);
  return encodeModel({
    ir_version: 8,
    producer_name: 'kaizen',
    opset_import: [
      { domain: '', version: 17 },
      { domain: ML_DOMAIN, version: 3 },
    ],
    metadata_props: [{ key: NUMERIC_BLOCK.metadataKey, value: JSON.stringify(numeric) }],
    graph: {
      name: model.kind,
      node: graph.nodes,
      initializer: graph.initializers,
      input: [
        ...(numeric.length > 0 ? [valueInfo(NUMERIC_BLOCK.input, DataType.FLOAT, numeric.length)] : []),
        ...categorical.map((name) => valueInfo(name, DataType.STRING, 1)),
      ],
      output: OUTPUTS.map((name) => valueInfo(name, DataType.FLOAT, 1)),
    },
  });
}

/**
 * The model inputs as graph tensors to concatenate, and `order`: for each concatenated column, its
 * position in the model's layout (model.ts preprocess).
 */
function inputNodes(graph: GraphBuilder, inputs: InputColumn[]): { parts: string[]; order: number[] } {
  const numeric: Array<{ input: NumericInput; at: number }> = [];
  const categorical: Array<{ input: CategoricalInput; at: number }> = [];
  let at = 0;
  for (const input of inputs) {
    if (input.kind === 'numeric') {
      numeric.push({ input, at });
      at += input.missingIndicator ? 2 : 1;
    } else {
      categorical.push({ input, at });
      at += input.categories.length;
    }
  }
  const parts: string[] = [];
  const order: number[] = [];
  if (numeric.length > 0) {
    const { scaled, missing } = numericBlock(
      graph,
      numeric.map((n) => n.input),
    );
    parts.push(scaled);
    order.push(...numeric.map((n) => n.at));
    const flagged = numeric.flatMap((n, k) => (n.input.missingIndicator ? [k] : []));
    if (flagged.length > 0) {
      const columns =
        flagged.length === numeric.length
          ? missing
          : graph.node('Gather', [missing, graph.int64s('indicator_columns', flagged)], [int('axis', 1)]);
      parts.push(graph.node('Cast', [columns], [int('to', DataType.FLOAT)]));
      order.push(...flagged.map((k) => numeric[k].at + 1));
    }
  }
  for (const { input, at: first } of categorical) {
    // A column without categories contributes no model inputs (its graph input is then unused).
    if (input.categories.length === 0) continue;
    parts.push(oneHot(graph, input));
    order.push(...input.categories.map((_, k) => first + k));
  }
  return { parts, order };
}

/** The numeric block input, missing values filled, then scaled; and where they were missing. */
function numericBlock(graph: GraphBuilder, inputs: NumericInput[]): { scaled: string; missing: string } {
  const raw = NUMERIC_BLOCK.input;
  const missing = graph.node('IsNaN', [raw]);
  const vector = (what: 'fill' | 'mean' | 'std') =>
    graph.floats(
      `numeric_${what}`,
      inputs.map((c) => c[what]),
      [inputs.length],
    );
  const filled = graph.node('Where', [missing, vector('fill'), raw]);
  const scaled = graph.node('Div', [graph.node('Sub', [filled, vector('mean')]), vector('std')]);
  return { scaled, missing };
}

/** A categorical column as [N, k] one-hot floats. */
function oneHot(graph: GraphBuilder, input: CategoricalInput): string {
  const encoder = new TextEncoder();
  const index = graph.node(
    'LabelEncoder',
    [input.name],
    [
      {
        name: 'keys_strings',
        type: AttributeType.STRINGS,
        strings: input.categories.map((c) => encoder.encode(c)),
      },
      { name: 'values_int64s', type: AttributeType.INTS, ints: input.categories.map((_, i) => i) },
      // "" (missing) and unseen values map to -1, which matches no one-hot position.
      int('default_int64', -1),
    ],
    undefined,
    ML_DOMAIN,
  );
  const positions = graph.int64s(
    `${input.name}_positions`,
    input.categories.map((_, i) => i),
  );
  // [N, 1] == [k] broadcasts to [N, k].
  const hot = graph.node('Equal', [index, positions]);
  return graph.node('Cast', [hot], [int('to', DataType.FLOAT)]);
}

/** Weights (outputs × inputs) with their input columns in the graph's order: column j is `order[j]`. */
function permuteInputs(weights: Float32Array, outputs: number, order: number[]): Float32Array {
  const inputs = order.length;
  const out = new Float32Array(outputs * inputs);
  for (let o = 0; o < outputs; o++)
    for (let j = 0; j < inputs; j++) out[o * inputs + j] = weights[o * inputs + order[j]];
  return out;
}

/** Accumulates nodes and initializers, keeping every value name unique (column names are reserved). */
class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];
  private readonly used: Set<string>;

  constructor(reserved: string[]) {
    this.used = new Set(reserved);
  }

  /** Adds a node; its output gets `output` (a reserved graph output name) or a fresh name. */
  node(
    opType: string,
    inputs: string[],
    attribute: AttributeProto[] = [],
    output?: string,
    domain = '',
  ): string {
    const out = output ?? this.fresh(opType.toLowerCase());
    this.nodes.push({
      name: this.fresh(`node_${out}`),
      op_type: opType,
      domain,
      input: inputs,
      output: [out],
      attribute,
    });
    return out;
  }

  floats(base: string, values: ArrayLike<number>, dims: number[]): string {
    return this.initializer(base, DataType.FLOAT, Float32Array.from(values), dims);
  }

  int64s(base: string, values: number[]): string {
    return this.initializer(base, DataType.INT64, BigInt64Array.from(values, BigInt), [values.length]);
  }

  // raw_data is little-endian; typed arrays use the platform's byte order, little-endian wherever Node runs.
  private initializer(base: string, dataType: number, values: Float32Array | BigInt64Array, dims: number[]) {
    const name = this.fresh(base);
    const raw_data = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    this.initializers.push({ name, dims, data_type: dataType, raw_data });
    return name;
  }

  private fresh(base: string): string {
    let name = base;
    for (let i = 1; this.used.has(name); i++) name = `${base}_${i}`;
    this.used.add(name);
    return name;
  }
}

function int(name: string, i: number): AttributeProto {
  return { name, type: AttributeType.INT, i };
}

/** A [N, width] tensor. */
function valueInfo(name: string, elemType: number, width: number): ValueInfoProto {
  return {
    name,
    type: {
      tensor_type: { elem_type: elemType, shape: { dim: [{ dim_param: 'N' }, { dim_value: width }] } },
    },
  };
}

/** Rejects models the graph could not compute faithfully, naming what is wrong. */
function validate(model: BuiltinModel): void {
  const fail = (why: string) => {
    throw new Error(`cannot export ${model.kind} model to ONNX: ${why}`);
  };
  const names = new Set<string>();
  for (const input of model.inputs) {
    const what = `input "${input.name}"`;
    if (input.name === '') fail('an input has an empty name');
    if (names.has(input.name)) fail(`${what} appears twice`);
    if ([...OUTPUTS, NUMERIC_BLOCK.input].some((name) => name === input.name))
      fail(`${what} clashes with a graph input or output name`);
    names.add(input.name);
    if (input.kind === 'numeric') {
      if (![input.mean, input.std, input.fill].every(Number.isFinite))
        fail(`${what} has a non-finite mean, std or fill`);
      if (input.std === 0) fail(`${what} has std 0`);
    } else {
      // The graph receives null as "", so "" cannot also be a category.
      if (input.categories.includes('')) fail(`${what} has the empty string as a category`);
      if (new Set(input.categories).size !== input.categories.length)
        fail(`${what} has duplicate categories`);
    }
  }
  const width = inputWidth(model.inputs);
  if (width === 0) fail('the model has no inputs');
  if (model.layers.length === 0) fail('the model has no layers');
  let expected = width;
  model.layers.forEach((layer, l) => {
    const what = `layer ${l}`;
    if (layer.inputs !== expected) fail(`${what} has ${layer.inputs} inputs, expected ${expected}`);
    if (layer.weights.length !== layer.outputs * layer.inputs)
      fail(`${what} has ${layer.weights.length} weights, expected ${layer.outputs} × ${layer.inputs}`);
    if (layer.bias.length !== layer.outputs)
      fail(`${what} has ${layer.bias.length} biases, expected ${layer.outputs}`);
    if (layer.activation !== 'relu' && layer.activation !== 'none')
      fail(`${what} has unknown activation "${String(layer.activation)}"`);
    expected = layer.outputs;
  });
  if (expected !== 1) fail(`the last layer has ${expected} outputs, expected 1 (the logit)`);
}
