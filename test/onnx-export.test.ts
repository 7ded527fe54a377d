import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { InferenceSession } from 'onnxruntime-node';
import type { Column } from '../feature-store/definitions/types.js';
import {
  inputWidth,
  predictProbabilities,
  type BuiltinModel,
  type InputColumn,
} from '../trainers/builtin/model.js';
import { exportOnnx } from '../trainers/builtin/onnx-export.js';
import {
  AttributeType,
  DataType,
  decodeModelMetadata,
  encodeModel,
  NUMERIC_BLOCK,
} from '../trainers/builtin/onnx-proto.js';
import { createOnnxScorer } from '../models/onnx-scorer.js';
import { mulberry32 } from '../models/prng.js';

const uniform = (rand: () => number, lo: number, hi: number) => lo + (hi - lo) * rand();

function randomInputs(rand: () => number): InputColumn[] {
  const inputs: InputColumn[] = [];
  for (let i = 0; i < 4; i++) {
    inputs.push({
      kind: 'numeric',
      name: `num_${i}`,
      mean: uniform(rand, -5, 5),
      std: uniform(rand, 0.3, 4),
      fill: uniform(rand, -5, 5),
      missingIndicator: i % 2 === 0,
    });
  }
  // A bool-backed numeric column (Uint8Array values) whose name has a space.
  inputs.push({ kind: 'numeric', name: 'is weekend', mean: 0.3, std: 0.46, fill: 0, missingIndicator: true });
  for (const [i, k] of [3, 1, 0, 7].entries()) {
    inputs.push({
      kind: 'categorical',
      name: `cat_${i}`,
      categories: Array.from({ length: k }, (_, c) => `c${c}`),
    });
  }
  return inputs;
}

function randomLayer(rand: () => number, inputs: number, outputs: number, activation: 'relu' | 'none') {
  const weights = Float32Array.from({ length: inputs * outputs }, () => uniform(rand, -1, 1));
  const bias = Float32Array.from({ length: outputs }, () => uniform(rand, -0.5, 0.5));
  return { inputs, outputs, weights, bias, activation };
}

function randomModel(kind: 'logistic' | 'mlp', seed: number): BuiltinModel {
  const rand = mulberry32(seed);
  const inputs = randomInputs(rand);
  const width = inputWidth(inputs);
  const layers =
    kind === 'logistic'
      ? [randomLayer(rand, width, 1, 'none')]
      : [
          randomLayer(rand, width, 16, 'relu'),
          randomLayer(rand, 16, 8, 'relu'),
          randomLayer(rand, 8, 1, 'none'),
        ];
  return { kind, inputs, layers };
}

/** Columns for the model's inputs with nulls, NaN, unseen categories, "" and invalid-but-set values. */
function randomColumns(model: BuiltinModel, rows: number, seed: number): Record<string, Column> {
  const rand = mulberry32(seed);
  const columns: Record<string, Column> = {};
  for (const input of model.inputs) {
    const valid = Uint8Array.from({ length: rows }, () => (rand() < 0.1 ? 0 : 1));
    if (input.kind === 'numeric' && input.name === 'is weekend') {
      columns[input.name] = {
        type: 'bool',
        values: Uint8Array.from({ length: rows }, () => (rand() < 0.3 ? 1 : 0)),
        valid,
      };
    } else if (input.kind === 'numeric') {
      const values = Float64Array.from({ length: rows }, () =>
        rand() < 0.05 ? NaN : uniform(rand, input.mean - 3 * input.std, input.mean + 3 * input.std),
      );
      columns[input.name] = { type: 'float64', values, valid };
    } else {
      const pool = [...input.categories, 'unseen', '', null];
      const values = Array.from({ length: rows }, () => pool[Math.floor(rand() * pool.length)]);
      columns[input.name] = { type: 'string', values, valid };
    }
  }
  return columns;
}

/** Scores the model's export with onnxruntime and asserts it matches predictProbabilities row by row. */
async function assertMatches(model: BuiltinModel, seed: number): Promise<void> {
  const rows = 5000;
  const columns = randomColumns(model, rows, seed * 7919);
  const expected = predictProbabilities(model, columns, rows);
  const scorer = await createOnnxScorer(exportOnnx(model));
  try {
    const actual = await scorer.score(columns, rows);
    assert.equal(actual.length, rows);
    for (let i = 0; i < rows; i++) {
      assert.ok(
        Math.abs(actual[i] - expected[i]) <= 1e-5,
        `row ${i}: onnx ${actual[i]} vs ts ${expected[i]}`,
      );
    }
    assert.deepEqual(await scorer.score(columns, 0), new Float64Array(0));
  } finally {
    await scorer.release();
  }
}

describe('exportOnnx', () => {
  for (const [kind, seed] of [
    ['logistic', 1],
    ['logistic', 2],
    ['mlp', 3],
    ['mlp', 4],
  ] as const) {
    test(`onnxruntime matches predictProbabilities (${kind}, seed ${seed})`, () =>
      assertMatches(randomModel(kind, seed), seed));
  }

  // The numeric block's other shapes: one column (no Concat), every column flagged (no Gather), none
  // flagged (no indicators), no numeric column at all.
  for (const [layout, keep] of [
    ['a single numeric column', (c: InputColumn) => c.name === 'num_0'],
    ['numeric columns all with indicators', (c: InputColumn) => c.kind === 'numeric' && c.missingIndicator],
    ['numeric columns none with indicators', (c: InputColumn) => c.kind === 'numeric' && !c.missingIndicator],
    ['categorical columns only', (c: InputColumn) => c.kind === 'categorical'],
  ] as const) {
    test(`onnxruntime matches predictProbabilities (${layout})`, () => {
      const rand = mulberry32(8);
      const inputs = randomInputs(rand).filter(keep);
      const width = inputWidth(inputs);
      return assertMatches(
        {
          kind: 'mlp',
          inputs,
          layers: [randomLayer(rand, width, 4, 'relu'), randomLayer(rand, 4, 1, 'none')],
        },
        9,
      );
    });
  }

  test('onnxruntime matches predictProbabilities (categorical columns, an empty one included, before the numeric ones)', () => {
    const model = randomModel('mlp', 10);
    const inputs = [...model.inputs].reverse();
    const rand = mulberry32(11);
    const width = inputWidth(inputs);
    return assertMatches(
      { kind: 'mlp', inputs, layers: [randomLayer(rand, width, 4, 'relu'), randomLayer(rand, 4, 1, 'none')] },
      12,
    );
  });

  test('graph inputs: the numeric block (its columns in the metadata) and each string column; outputs logit and probability', async () => {
    const model = randomModel('mlp', 5);
    const bytes = exportOnnx(model);
    const numeric = model.inputs.filter((c) => c.kind === 'numeric').map((c) => c.name);
    assert.deepEqual(decodeModelMetadata(bytes).get(NUMERIC_BLOCK.metadataKey), JSON.stringify(numeric));
    const session = await InferenceSession.create(bytes);
    try {
      assert.deepEqual(
        session.inputMetadata.map((m) => (m.isTensor ? { name: m.name, type: m.type, shape: m.shape } : m)),
        [
          { name: NUMERIC_BLOCK.input, type: 'float32', shape: ['N', numeric.length] },
          ...model.inputs
            .filter((c) => c.kind === 'categorical')
            .map((c) => ({ name: c.name, type: 'string', shape: ['N', 1] })),
        ],
      );
      assert.deepEqual(
        session.outputMetadata.map((m) => (m.isTensor ? { name: m.name, type: m.type, shape: m.shape } : m)),
        ['logit', 'probability'].map((name) => ({ name, type: 'float32', shape: ['N', 1] })),
      );
    } finally {
      await session.release();
    }
    const scorer = await createOnnxScorer(bytes);
    try {
      assert.deepEqual([...scorer.inputNames].sort(), model.inputs.map((c) => c.name).sort());
    } finally {
      await scorer.release();
    }
  });

  test('small calls reuse their blocks across calls, and concurrent ones never share one', async () => {
    const model = randomModel('mlp', 13);
    const scorer = await createOnnxScorer(exportOnnx(model), { threads: 1 });
    const check = async (calls: Array<{ rows: number; seed: number }>) => {
      const batches = calls.map(({ rows, seed }) => ({ rows, columns: randomColumns(model, rows, seed) }));
      const scores = await Promise.all(batches.map(({ columns, rows }) => scorer.score(columns, rows)));
      batches.forEach(({ columns, rows }, k) => {
        const expected = predictProbabilities(model, columns, rows);
        for (let i = 0; i < rows; i++)
          assert.ok(Math.abs(scores[k][i] - expected[i]) <= 1e-5, `call ${k} row ${i}`);
      });
    };
    try {
      // Sequential calls of each size: every one after the first reuses the block the last gave back.
      for (let k = 0; k < 6; k++) await check([{ rows: 1 + (k % 3), seed: 100 + k }]);
      // Concurrent waves: idle blocks are taken by the first calls of a wave, new ones made for the rest.
      for (let wave = 0; wave < 3; wave++)
        await check(Array.from({ length: 20 }, (_, k) => ({ rows: 1 + (k % 3), seed: 200 + 20 * wave + k })));
    } finally {
      await scorer.release();
    }
  });

  test('a numeric block the metadata does not describe is refused with the reason', async () => {
    const model = randomModel('mlp', 14);
    const bytes = exportOnnx(model);
    const numeric = JSON.parse(decodeModelMetadata(bytes).get(NUMERIC_BLOCK.metadataKey)!) as string[];
    // The same graph with its metadata entry replaced (or dropped). The exporter writes metadata_props
    // last (highest field number), so the graph's bytes are what precedes that entry's encoding.
    const metadataOnly = (props: Array<{ key: string; value: string }>) =>
      encodeModel({ metadata_props: props } as unknown as Parameters<typeof encodeModel>[0]);
    const ownEntry = metadataOnly([{ key: NUMERIC_BLOCK.metadataKey, value: JSON.stringify(numeric) }]);
    const graphOnly = bytes.subarray(0, bytes.length - ownEntry.length);
    assert.deepEqual(bytes.subarray(graphOnly.length), ownEntry);
    const withMetadata = (value: string | null) =>
      Buffer.concat([
        graphOnly,
        metadataOnly(value === null ? [] : [{ key: NUMERIC_BLOCK.metadataKey, value }]),
      ]);
    const cases: Array<[string | null, RegExp]> = [
      [null, /has input kaizen\.numeric_block but no metadata/],
      ['not json', /is not JSON/],
      ['{"a":1}', /is not a list of column names/],
      [JSON.stringify([numeric[0], numeric[0], ...numeric.slice(2)]), /lists "num_0" twice/],
      [
        JSON.stringify(numeric.slice(1)),
        /lists 4 numeric columns, but the graph's kaizen\.numeric_block input is not float \[N, 4\]/,
      ],
      [
        JSON.stringify([...numeric.slice(1), 'cat_0']),
        /column "cat_0" is both in the numeric block and a graph input/,
      ],
      ['[]', /lists no columns/],
    ];
    for (const [value, expected] of cases)
      await assert.rejects(createOnnxScorer(withMetadata(value)), (error: Error) => {
        assert.equal(error.name, 'InvalidModelGraphError');
        assert.match(error.message, expected);
        return true;
      });
  });

  test('a graph of one [N, 1] input per column (earlier exports, external trainers) still scores', async () => {
    // probability = sigmoid(2·a − b) over inputs a and b, no metadata.
    const input = (name: string) => ({
      name,
      type: {
        tensor_type: { elem_type: DataType.FLOAT, shape: { dim: [{ dim_param: 'N' }, { dim_value: 1 }] } },
      },
    });
    const weights = Float32Array.of(2, -1);
    const bytes = encodeModel({
      ir_version: 8,
      producer_name: 'test',
      opset_import: [{ domain: '', version: 17 }],
      graph: {
        name: 'per-column',
        node: [
          {
            name: 'concat',
            op_type: 'Concat',
            input: ['a', 'b'],
            output: ['x'],
            attribute: [{ name: 'axis', type: AttributeType.INT, i: 1 }],
          },
          { name: 'gemm', op_type: 'MatMul', input: ['x', 'w'], output: ['logit'] },
          { name: 'sigmoid', op_type: 'Sigmoid', input: ['logit'], output: ['probability'] },
        ],
        initializer: [
          { name: 'w', dims: [2, 1], data_type: DataType.FLOAT, raw_data: new Uint8Array(weights.buffer) },
        ],
        input: [input('a'), input('b')],
        output: [input('logit'), input('probability')],
      },
    });
    const scorer = await createOnnxScorer(bytes);
    try {
      assert.deepEqual(scorer.inputNames, ['a', 'b']);
      const column = (values: number[]): Column => ({
        type: 'float64',
        values: Float64Array.from(values),
        valid: Uint8Array.from(values, () => 1),
      });
      const scores = await scorer.score({ a: column([0, 1]), b: column([0, 1]) }, 2);
      assert.ok(Math.abs(scores[0] - 0.5) < 1e-6 && Math.abs(scores[1] - 1 / (1 + Math.exp(-1))) < 1e-6);
    } finally {
      await scorer.release();
    }
  });

  test('invalid models are rejected with the reason', () => {
    const model = randomModel('logistic', 6);
    const [layer] = model.layers;
    const short = { ...model, layers: [{ ...layer, weights: layer.weights.subarray(1) }] };
    assert.throws(
      () => exportOnnx(short),
      new RegExp(
        `cannot export logistic model to ONNX: layer 0 has ${layer.inputs - 1} weights, expected 1 × ${layer.inputs}`,
      ),
    );
    const emptyCategory = {
      ...model,
      inputs: [...model.inputs, { kind: 'categorical' as const, name: 'x', categories: [''] }],
    };
    assert.throws(() => exportOnnx(emptyCategory), /input "x" has the empty string as a category/);
    const clash = { ...model, inputs: [...model.inputs, model.inputs[0]] };
    assert.throws(() => exportOnnx(clash), /input "num_0" appears twice/);
  });
});
