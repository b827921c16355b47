import { describe, expect, it } from 'vitest';
import { checkCheckpoint, decodeSafetensors, encodeSafetensors } from '../../src/train/safetensors.js';

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
});
