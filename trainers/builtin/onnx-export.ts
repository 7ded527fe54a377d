/**
 * Exports a BuiltinModel as a self-contained ONNX graph over raw feature columns, computing what
 * `predictProbabilities` (model.ts) computes: one input per column, named like it, shape [N, 1]:
 * numeric → float with NaN for missing; categorical → string with "" for missing. Outputs `logit`
 * and `probability`, both float [N, 1].
 */
import { inputWidth, type BuiltinModel, type InputColumn } from './model.js';
import {
  AttributeType,
  DataType,
  encodeModel,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from './onnx-proto.js';

const OUTPUTS = ['logit', 'probability'] as const;
const ML_DOMAIN = 'ai.onnx.ml';

export function exportOnnx(model: BuiltinModel): Uint8Array {
  validate(model);
  const graph = new GraphBuilder([...model.inputs.map((c) => c.name), ...OUTPUTS]);
  const parts = model.inputs.flatMap((input) => preprocessNodes(graph, input));
  let x = graph.node('Concat', parts, [int('axis', 1)]);
  model.layers.forEach((layer, l) => {
    const last = l === model.layers.length - 1;
    const w = graph.floats(`w${l}`, layer.weights, [layer.outputs, layer.inputs]);
    const b = graph.floats(`b${l}`, layer.bias, [layer.outputs]);
    // Weights are outputs × inputs, so B is used transposed.
    const gemmOut = last && layer.activation === 'none' ? 'logit' : undefined;
    x = graph.node('Gemm', [x, w, b], [int('transB', 1)], gemmOut);
    if (layer.activation === 'relu') x = graph.node('Relu', [x], [], last ? 'logit' : undefined);
  });
  graph.node('Sigmoid', [x], [], 'probability');

  return encodeModel({
    ir_version: 8,
    producer_name: 'kaizen',
    opset_import: [
      { domain: '', version: 17 },
      { domain: ML_DOMAIN, version: 3 },
    ],
    graph: {
      name: model.kind,
      node: graph.nodes,
      initializer: graph.initializers,
      input: model.inputs.map((c) =>
        valueInfo(c.name, c.kind === 'numeric' ? DataType.FLOAT : DataType.STRING),
      ),
      output: OUTPUTS.map((name) => valueInfo(name, DataType.FLOAT)),
    },
  });
}

/** Nodes turning one raw [N, 1] column into its model inputs; returns their [N, *] tensors in order. */
function preprocessNodes(graph: GraphBuilder, input: InputColumn): string[] {
  if (input.kind === 'numeric') {
    const missing = graph.node('IsNaN', [input.name]);
    const fill = graph.floats(`${input.name}_fill`, [input.fill], []);
    const filled = graph.node('Where', [missing, fill, input.name]);
    const mean = graph.floats(`${input.name}_mean`, [input.mean], []);
    const std = graph.floats(`${input.name}_std`, [input.std], []);
    const scaled = graph.node('Div', [graph.node('Sub', [filled, mean]), std]);
    if (!input.missingIndicator) return [scaled];
    return [scaled, graph.node('Cast', [missing], [int('to', DataType.FLOAT)])];
  }
  const k = input.categories.length;
  // A column without categories contributes no model inputs (its graph input is then unused).
  if (k === 0) return [];
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
  return [graph.node('Cast', [hot], [int('to', DataType.FLOAT)])];
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

function valueInfo(name: string, elemType: number): ValueInfoProto {
  return {
    name,
    type: { tensor_type: { elem_type: elemType, shape: { dim: [{ dim_param: 'N' }, { dim_value: 1 }] } } },
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
    if ((OUTPUTS as readonly string[]).includes(input.name)) fail(`${what} clashes with a graph output name`);
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
