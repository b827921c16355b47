import { describe, expect, it } from 'vitest';
import { CheckpointError, checkCheckpoint, checkFinite, decodeSafetensors, encodeSafetensors } from '../../src/train/safetensors.js';
import { MAX_SAFETENSORS_HEADER_BYTES } from '../../src/io/limits.js';

/** A safetensors file with exactly this header (any JSON) and `dataBytes` bytes of data. */
function rawFile(header: unknown, dataBytes: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const bytes = new Uint8Array(8 + json.length + dataBytes);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  return bytes;
}

const f32 = (shape: number[], start: number, end = start + 4 * shape.reduce((a, b) => a * b, 1)) => ({ dtype: 'F32', shape, data_offsets: [start, end] });

describe('safetensors', () => {
  it('round-trips tensors and metadata with an 8-byte aligned header', () => {
    const tensors = [
      { name: 'fc1.weight', shape: [3, 2], data: Float32Array.of(1, 2, 3, 4, 5, 6) },
      { name: 'fc1.bias', shape: [3], data: Float32Array.of(-1, 0.5, 1e-30) },
    ];
    const bytes = encodeSafetensors(tensors, { format: 'pt' });
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect((8 + headerLength) % 8).toBe(0);
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
    expect(header['fc1.weight']).toEqual({ dtype: 'F32', shape: [3, 2], data_offsets: [0, 24] });
    const { tensors: back, metadata } = decodeSafetensors(bytes);
    expect(metadata).toEqual({ format: 'pt' });
    expect([...back.get('fc1.bias')!.data]).toEqual([...tensors[1].data]);
    expect(back.get('fc1.weight')!.shape).toEqual([3, 2]);
  });

  it('reads I64 counters as PyTorch writes num_batches_tracked', () => {
    const header = JSON.stringify({ 'bn.num_batches_tracked': { dtype: 'I64', shape: [], data_offsets: [0, 8] } });
    const bytes = new Uint8Array(8 + header.length + 8);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
    bytes.set(new TextEncoder().encode(header), 8);
    new DataView(bytes.buffer).setBigInt64(8 + header.length, 1234n, true);
    const t = decodeSafetensors(bytes).tensors.get('bn.num_batches_tracked')!;
    expect([t.shape, [...t.data]]).toEqual([[], [1234]]);
  });

  it('round-trips I8 tensors next to F32 ones, F32 data first so it stays 4-byte aligned', () => {
    const q = { name: 'fc.weight', shape: [3, 1], data: Int8Array.of(-127, 0, 5) };
    const scale = { name: 'fc.weight_scale', shape: [3], data: Float32Array.of(0.5, 1, 2.25) };
    const bytes = encodeSafetensors([q, scale]);
    const headerLength = Number(new DataView(bytes.buffer).getBigUint64(0, true));
    const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
    expect(header['fc.weight']).toEqual({ dtype: 'I8', shape: [3, 1], data_offsets: [12, 15] });
    expect(header['fc.weight_scale']).toEqual({ dtype: 'F32', shape: [3], data_offsets: [0, 12] });
    expect(bytes.length).toBe(8 + headerLength + 15);
    const { tensors, int8 } = decodeSafetensors(bytes);
    expect([...int8.keys()]).toEqual(['fc.weight']);
    expect([...int8.get('fc.weight')!.data]).toEqual([-127, 0, 5]);
    expect(int8.get('fc.weight')!.shape).toEqual([3, 1]);
    expect([...tensors.keys()]).toEqual(['fc.weight_scale']);
    expect([...tensors.get('fc.weight_scale')!.data]).toEqual([0.5, 1, 2.25]);
  });

  it('rejects dtypes it cannot read, naming them', () => {
    const header = JSON.stringify({ w: { dtype: 'F16', shape: [1], data_offsets: [0, 2] } });
    const bytes = new Uint8Array(8 + header.length + 2);
    new DataView(bytes.buffer).setBigUint64(0, BigInt(header.length), true);
    bytes.set(new TextEncoder().encode(header), 8);
    expect(() => decodeSafetensors(bytes)).toThrow(/'w' has dtype F16; only F32, I8/);
  });

  it('lists every mismatch between a checkpoint and a model', () => {
    const found = decodeSafetensors(
      encodeSafetensors([
        { name: 'a', shape: [2], data: new Float32Array(2) },
        { name: 'extra', shape: [1], data: new Float32Array(1) },
      ]),
    ).tensors;
    const expected = new Map([
      ['a', [3]],
      ['b', [1]],
    ]);
    expect(() => checkCheckpoint(expected, found)).toThrow(
      /'a': checkpoint has \[2\], model needs \[3\]\n {2}missing 'b' \[1\]\n {2}unexpected 'extra'/,
    );
  });

  it('rejects files that are not safetensors', () => {
    expect(() => decodeSafetensors(Uint8Array.of(1, 2))).toThrow(/too short/);
    const bogus = new Uint8Array(16);
    new DataView(bogus.buffer).setBigUint64(0, 1000n, true);
    expect(() => decodeSafetensors(bogus)).toThrow(/header length exceeds the file/);
  });

  it('refuses every malformed header with a CheckpointError naming the tensor and the field', () => {
    const cases: [unknown, number, RegExp][] = [
      [[1, 2], 0, /^checkpoint: header is \[1,2\], not a JSON object of tensors$/],
      [null, 0, /header is null/],
      [{ w: null }, 0, /^checkpoint: 'w' is null; a tensor entry is an object with dtype, shape and data_offsets$/],
      [{ w: 3 }, 0, /'w' is 3; a tensor entry is an object/],
      [{ w: { shape: [1], data_offsets: [0, 4] } }, 4, /'w' dtype is missing; expected one of BOOL, U8/],
      [{ w: { dtype: 7, shape: [1], data_offsets: [0, 4] } }, 4, /'w' dtype is 7/],
      [{ w: { dtype: 'F32', shape: 5, data_offsets: [0, 20] } }, 20, /^checkpoint: 'w' shape is 5; expected an array of non-negative integers$/],
      [{ w: { dtype: 'F32', shape: [2.5, 2], data_offsets: [0, 20] } }, 20, /'w' shape is \[2.5,2\]/],
      [{ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 0] } }, 0, /'w' shape is \[-1\]/],
      [{ w: { dtype: 'F32', shape: ['2'], data_offsets: [0, 8] } }, 8, /'w' shape is \["2"\]/],
      [{ w: { dtype: 'F32', shape: [1] } }, 4, /^checkpoint: 'w' data_offsets is missing; expected \[start, end\], two non-negative integers$/],
      [{ w: { dtype: 'F32', shape: [1], data_offsets: [0.5, 4.5] } }, 5, /'w' data_offsets is \[0.5,4.5\]/],
      [{ w: { dtype: 'F32', shape: [1], data_offsets: [0, 4, 8] } }, 8, /'w' data_offsets is \[0,4,8\]/],
      [{ w: { dtype: 'F32', shape: [1], data_offsets: [8, 4] } }, 8, /'w' data_offsets \[8, 4\] end before they start/],
      [{ w: f32([2], 0, 4) }, 4, /^checkpoint: 'w' data_offsets \[0, 4\] span 4 bytes, but F32 \[2\] takes 8$/],
      [{ a: f32([2], 0), b: f32([2], 4) }, 12, /^checkpoint: 'b' data_offsets \[4, 12\] overlap 'a' \[0, 8\]$/],
      [{ a: f32([1], 0), b: f32([1], 8) }, 12, /^checkpoint: 4 bytes at data offset 4 belong to no tensor \(before 'b' \[8, 12\]\)/],
      [{ a: f32([1], 4) }, 8, /4 bytes at data offset 0 belong to no tensor/],
      [{ a: f32([2], 0) }, 4, /'a' data_offsets end at 8, past the 4 bytes of data; the file is truncated/],
      [{ a: f32([1], 0) }, 6, /the tensors cover 4 bytes but the data section holds 6; the file has 2 trailing bytes/],
      [{ __metadata__: { format: 3 } }, 0, /^checkpoint: __metadata__ 'format' is 3; metadata values must be strings$/],
      [{ __metadata__: ['pt'] }, 0, /__metadata__ is \["pt"\]; it must be an object of strings/],
      [{ w: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 4] } }, 4, /^checkpoint: 'w' shape \[1099511627776, 1099511627776\] is too large to be stored/],
    ];
    for (const [header, dataBytes, message] of cases) {
      const call = () => decodeSafetensors(rawFile(header, dataBytes));
      expect(call, JSON.stringify(header)).toThrow(CheckpointError);
      expect(call, JSON.stringify(header)).toThrow(message);
    }
  });

  it('bounds the header: at most MAX_SAFETENSORS_HEADER_BYTES, valid UTF-8, and names the file', () => {
    const huge = new Uint8Array(16);
    new DataView(huge.buffer).setBigUint64(0, 2n ** 63n, true);
    expect(() => decodeSafetensors(huge, { source: 'w.safetensors' })).toThrow(
      new CheckpointError(`w.safetensors: header length 9223372036854775808 is over the limit of ${MAX_SAFETENSORS_HEADER_BYTES} bytes (MAX_SAFETENSORS_HEADER_BYTES); not a safetensors file?`),
    );
    const latin = rawFile({}, 0);
    latin[9] = 0xff;
    expect(() => decodeSafetensors(latin)).toThrow(/header is not valid UTF-8 JSON/);
  });

  it('reads zero-size tensors, spaces after the header, and a tensor named __proto__', () => {
    const bytes = encodeSafetensors([
      { name: '__proto__', shape: [1], data: Float32Array.of(7) },
      { name: 'empty', shape: [0, 3], data: new Float32Array(0) },
    ]);
    const { tensors } = decodeSafetensors(bytes);
    expect([...tensors.keys()].sort()).toEqual(['__proto__', 'empty']);
    expect([...tensors.get('__proto__')!.data]).toEqual([7]);
    expect(tensors.get('empty')!.shape).toEqual([0, 3]);
  });

  it('refuses NaN and infinite values when asked, naming the tensor and the first bad index', () => {
    const bytes = encodeSafetensors([
      { name: 'fc.bias', shape: [2], data: Float32Array.of(1, 2) },
      { name: 'fc.weight', shape: [2, 3], data: Float32Array.of(0, 1, 2, 3, NaN, Infinity) },
    ]);
    expect(decodeSafetensors(bytes).tensors.get('fc.weight')!.data[4]).toBeNaN();
    expect(() => decodeSafetensors(bytes, { source: 'w.safetensors', requireFinite: true })).toThrow(
      new CheckpointError("w.safetensors: 'fc.weight' holds NaN at index [1, 1] (flat 4); a weight must be a finite number"),
    );
    expect(() => checkFinite([{ name: 's', shape: [], data: Float32Array.of(-Infinity) }])).toThrow(/'s' holds -Infinity at index \[\] \(flat 0\)/);
  });
});
