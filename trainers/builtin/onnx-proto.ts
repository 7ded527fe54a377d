/**
 * The subset of onnx.proto (github.com/onnx/onnx, onnx/onnx.proto; field numbers as there) that the
 * exporter writes, as protobufjs reflection JSON: enough to encode a ModelProto with one graph, and to
 * read back its metadata_props (what onnxruntime's JavaScript API does not expose).
 */
import protobuf from 'protobufjs';

const field = (id: number, type: string, repeated = false) =>
  repeated ? { id, type, rule: 'repeated' } : { id, type };

const root = protobuf.Root.fromJSON({
  nested: {
    onnx: {
      nested: {
        ModelProto: {
          fields: {
            ir_version: field(1, 'int64'),
            producer_name: field(2, 'string'),
            graph: field(7, 'GraphProto'),
            opset_import: field(8, 'OperatorSetIdProto', true),
            metadata_props: field(14, 'StringStringEntryProto', true),
          },
        },
        StringStringEntryProto: { fields: { key: field(1, 'string'), value: field(2, 'string') } },
        // ModelProto as seen by a reader of its metadata alone: the graph (field 7) is skipped unread.
        ModelMetadataProto: { fields: { metadata_props: field(14, 'StringStringEntryProto', true) } },
        OperatorSetIdProto: { fields: { domain: field(1, 'string'), version: field(2, 'int64') } },
        GraphProto: {
          fields: {
            node: field(1, 'NodeProto', true),
            name: field(2, 'string'),
            initializer: field(5, 'TensorProto', true),
            input: field(11, 'ValueInfoProto', true),
            output: field(12, 'ValueInfoProto', true),
          },
        },
        NodeProto: {
          fields: {
            input: field(1, 'string', true),
            output: field(2, 'string', true),
            name: field(3, 'string'),
            op_type: field(4, 'string'),
            attribute: field(5, 'AttributeProto', true),
            domain: field(7, 'string'),
          },
        },
        AttributeProto: {
          fields: {
            name: field(1, 'string'),
            i: field(3, 'int64'),
            ints: field(8, 'int64', true),
            strings: field(9, 'bytes', true),
            type: field(20, 'int32'),
          },
        },
        TensorProto: {
          fields: {
            dims: field(1, 'int64', true),
            data_type: field(2, 'int32'),
            name: field(8, 'string'),
            raw_data: field(9, 'bytes'),
          },
        },
        ValueInfoProto: { fields: { name: field(1, 'string'), type: field(2, 'TypeProto') } },
        TypeProto: {
          fields: { tensor_type: field(1, 'TypeProtoTensor') },
        },
        // TypeProto.Tensor, flattened to a top-level message: nesting does not change the encoding.
        TypeProtoTensor: { fields: { elem_type: field(1, 'int32'), shape: field(2, 'TensorShapeProto') } },
        TensorShapeProto: { fields: { dim: field(1, 'Dimension', true) } },
        // TensorShapeProto.Dimension: one of dim_value / dim_param.
        Dimension: { fields: { dim_value: field(1, 'int64'), dim_param: field(2, 'string') } },
      },
    },
  },
});

/** TensorProto.DataType values. */
export const DataType = { FLOAT: 1, INT64: 7, STRING: 8 } as const;
/** AttributeProto.AttributeType values. */
export const AttributeType = { INT: 2, INTS: 7, STRINGS: 8 } as const;

export interface TensorProto {
  name: string;
  dims: number[];
  data_type: number;
  /** Little-endian fixed-width values. */
  raw_data: Uint8Array;
}

export interface AttributeProto {
  name: string;
  type: number;
  i?: number;
  ints?: number[];
  strings?: Uint8Array[];
}

export interface NodeProto {
  name: string;
  op_type: string;
  domain?: string;
  input: string[];
  output: string[];
  attribute?: AttributeProto[];
}

/** A tensor graph input/output; `dim_param` names a dynamic dimension. */
export interface ValueInfoProto {
  name: string;
  type: {
    tensor_type: { elem_type: number; shape: { dim: ({ dim_value: number } | { dim_param: string })[] } };
  };
}

export interface ModelProto {
  ir_version: number;
  producer_name: string;
  opset_import: { domain: string; version: number }[];
  metadata_props?: { key: string; value: string }[];
  graph: {
    name: string;
    node: NodeProto[];
    initializer: TensorProto[];
    input: ValueInfoProto[];
    output: ValueInfoProto[];
  };
}

const Model = root.lookupType('onnx.ModelProto');

export function encodeModel(model: ModelProto): Uint8Array {
  return Model.encode(Model.fromObject(model)).finish();
}

const ModelMetadata = root.lookupType('onnx.ModelMetadataProto');

/** A model's metadata_props as key → value. */
export function decodeModelMetadata(bytes: Uint8Array): Map<string, string> {
  const { metadata_props = [] } = ModelMetadata.decode(bytes) as unknown as Pick<
    ModelProto,
    'metadata_props'
  >;
  return new Map(metadata_props.map(({ key, value }) => [key, value]));
}

/**
 * Kaizen's graph layout: numeric inputs arrive as one float [N, n] input, NUMERIC_BLOCK.input, whose
 * columns the metadata entry NUMERIC_BLOCK.metadataKey names (a JSON array, in column order); string
 * inputs are one [N, 1] input per column, named like it. A graph without that entry takes one [N, 1]
 * input per column (earlier exports and external trainers).
 */
export const NUMERIC_BLOCK = { input: 'kaizen.numeric_block', metadataKey: 'kaizen.numeric_inputs' } as const;
