import protobuf from 'protobufjs/minimal.js';

/*
 * The ONNX messages an exported model needs, as plain objects, and their protobuf encoding with
 * protobufjs's minimal Writer (no .proto file or reflection at run time, so nothing is evaluated
 * and the browser bundle stays small). Field numbers are those of onnx/onnx.proto. Repeated
 * scalars are written unpacked, which every protobuf parser accepts for onnx.proto's proto2 fields.
 */

/** TensorProto.DataType values the exporter writes. */
export const ONNX_FLOAT = 1;
export const ONNX_INT8 = 3;
export const ONNX_INT64 = 7;
export const ONNX_BOOL = 9;

export interface OnnxTensor {
  name: string;
  dims: readonly number[];
  dataType: typeof ONNX_FLOAT | typeof ONNX_INT8 | typeof ONNX_INT64 | typeof ONNX_BOOL;
  /** Little-endian element bytes (TensorProto.raw_data). */
  raw: Uint8Array;
}

export type OnnxAttributeValue = number | readonly number[] | { float: number };

export interface OnnxNode {
  opType: string;
  inputs: readonly string[];
  outputs: readonly string[];
  name: string;
  /** Integers and integer lists as INT/INTS, `{ float }` as FLOAT. */
  attributes: Readonly<Record<string, OnnxAttributeValue>>;
}

/** A graph input's or output's type; a string dimension is symbolic (dim_param), e.g. the batch 'N'. */
export interface OnnxValueInfo {
  name: string;
  elemType: typeof ONNX_FLOAT | typeof ONNX_INT64;
  shape: readonly (number | string)[];
}

export interface OnnxGraph {
  name: string;
  nodes: readonly OnnxNode[];
  initializers: readonly OnnxTensor[];
  inputs: readonly OnnxValueInfo[];
  outputs: readonly OnnxValueInfo[];
}

export interface OnnxModel {
  irVersion: number;
  opset: number;
  producerName: string;
  producerVersion: string;
  graph: OnnxGraph;
  metadata: Readonly<Record<string, string>>;
}

type Writer = protobuf.Writer;

const VARINT = 0;
const FIXED32 = 5;
const LENGTH_DELIMITED = 2;

/** AttributeProto.AttributeType values. */
const ATTRIBUTE_TYPE = { FLOAT: 1, INT: 2, INTS: 7 } as const;

const tag = (w: Writer, field: number, wire: number) => w.uint32((field << 3) | wire);

function message(w: Writer, field: number, body: (w: Writer) => void): void {
  tag(w, field, LENGTH_DELIMITED).fork();
  body(w);
  w.ldelim();
}

const string = (w: Writer, field: number, s: string) => tag(w, field, LENGTH_DELIMITED).string(s);
const int64 = (w: Writer, field: number, n: number) => tag(w, field, VARINT).int64(n);

function tensor(w: Writer, t: OnnxTensor): void {
  for (const d of t.dims) int64(w, 1, d);
  tag(w, 2, VARINT).int32(t.dataType);
  string(w, 8, t.name);
  tag(w, 9, LENGTH_DELIMITED).bytes(t.raw);
}

function attribute(w: Writer, name: string, value: OnnxAttributeValue): void {
  string(w, 1, name);
  if (typeof value === 'number') {
    int64(w, 3, value);
    tag(w, 20, VARINT).int32(ATTRIBUTE_TYPE.INT);
  } else if ('float' in value) {
    tag(w, 2, FIXED32).float(value.float);
    tag(w, 20, VARINT).int32(ATTRIBUTE_TYPE.FLOAT);
  } else {
    for (const i of value) int64(w, 8, i);
    tag(w, 20, VARINT).int32(ATTRIBUTE_TYPE.INTS);
  }
}

function node(w: Writer, n: OnnxNode): void {
  for (const i of n.inputs) string(w, 1, i);
  for (const o of n.outputs) string(w, 2, o);
  string(w, 3, n.name);
  string(w, 4, n.opType);
  for (const [name, value] of Object.entries(n.attributes)) message(w, 5, (a) => attribute(a, name, value));
}

/** ValueInfoProto { name, type: TypeProto { tensor_type: { elem_type, shape } } }. */
function valueInfo(w: Writer, v: OnnxValueInfo): void {
  string(w, 1, v.name);
  message(w, 2, (type) =>
    message(type, 1, (t) => {
      tag(t, 1, VARINT).int32(v.elemType);
      message(t, 2, (shape) => {
        for (const d of v.shape) message(shape, 1, (dim) => (typeof d === 'string' ? string(dim, 2, d) : int64(dim, 1, d)));
      });
    }),
  );
}

function graph(w: Writer, g: OnnxGraph): void {
  for (const n of g.nodes) message(w, 1, (m) => node(m, n));
  string(w, 2, g.name);
  for (const t of g.initializers) message(w, 5, (m) => tensor(m, t));
  for (const v of g.inputs) message(w, 11, (m) => valueInfo(m, v));
  for (const v of g.outputs) message(w, 12, (m) => valueInfo(m, v));
}

/** The ModelProto bytes of `model`: what an `.onnx` file holds. */
export function encodeOnnxModel(model: OnnxModel): Uint8Array {
  const w = protobuf.Writer.create();
  int64(w, 1, model.irVersion);
  string(w, 2, model.producerName);
  string(w, 3, model.producerVersion);
  message(w, 7, (m) => graph(m, model.graph));
  // The default ('') domain: the standard ONNX operators.
  message(w, 8, (m) => int64(m, 2, model.opset));
  for (const [key, value] of Object.entries(model.metadata)) {
    message(w, 14, (m) => {
      string(m, 1, key);
      string(m, 2, value);
    });
  }
  // A plain Uint8Array, not the pooled Node Buffer the Writer returns there.
  return new Uint8Array(w.finish());
}
