import fc from 'fast-check';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DatasetError, encodeIdx, parseIdx } from '../../src/data/idx.js';
import { CheckpointError, decodeSafetensors, encodeSafetensors, type Int8Tensor, type NamedTensor } from '../../src/train/safetensors.js';

/*
 * Property-based tests of the file readers: whatever bytes arrive, the outcome is a parsed file
 * that is consistent with itself, or a DatasetError / CheckpointError, never another error type.
 * Run counts are bounded so the file runs in seconds; a failure prints its seed and shrunk case.
 */

const RUNS = { numRuns: 150 };

/** Small IDX contents: a shape of rank 1–3 with dimensions up to 6, and its bytes. */
const idxArray = fc
  .array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 3 })
  .chain((shape) => fc.tuple(fc.constant(shape), fc.uint8Array({ minLength: shape.reduce((a, b) => a * b, 1), maxLength: shape.reduce((a, b) => a * b, 1) })));

/** A byte-level corruption: overwrite some bytes, cut the file, or append to it. */
const corruption = fc.oneof(
  fc.record({ kind: fc.constant('overwrite' as const), at: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }) }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat() }),
  fc.record({ kind: fc.constant('append' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 16 }) }),
);
type Corruption = typeof corruption extends fc.Arbitrary<infer C> ? C : never;

function corrupt(file: Uint8Array, c: Corruption): Uint8Array {
  if (c.kind === 'truncate') return file.slice(0, file.length ? c.keep % file.length : 0);
  if (c.kind === 'append') return Uint8Array.from([...file, ...c.extra]);
  const out = file.slice();
  for (const [at, value] of c.at) if (out.length) out[at % out.length] = value;
  return out;
}

/** Resolves to the parse, or to the error if it is the expected type; any other error fails the property. */
async function outcome<T>(parse: () => T | Promise<T>, type: new (...args: never[]) => Error): Promise<T | Error> {
  try {
    return await parse();
  } catch (e) {
    if (e instanceof type) return e;
    throw new Error(`expected ${type.name}, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
  }
}

describe('IDX files under fuzzing', () => {
  it('round-trip valid random files, raw and gzip', async () => {
    await fc.assert(
      fc.asyncProperty(idxArray, fc.boolean(), async ([shape, data], gz) => {
        const file = encodeIdx(shape, data);
        const parsed = await parseIdx(gz ? new Uint8Array(gzipSync(file)) : file);
        expect(parsed.shape).toEqual(shape);
        expect([...parsed.data]).toEqual([...data]);
      }),
      RUNS,
    );
  });

  it('give a DatasetError or a self-consistent parse for corrupted files, raw and gzip', async () => {
    await fc.assert(
      fc.asyncProperty(idxArray, corruption, fc.boolean(), async ([shape, data], c, gz) => {
        const file = encodeIdx(shape, data);
        const bytes = gz ? corrupt(new Uint8Array(gzipSync(file)), c) : corrupt(file, c);
        const result = await outcome(() => parseIdx(bytes, 'fuzz.idx'), DatasetError);
        if (result instanceof Error) expect(result.message).toMatch(/^fuzz\.idx: /);
        else expect(result.data.length).toBe(result.shape.reduce((a, b) => a * b, 1));
      }),
      RUNS,
    );
  });

  it('give a DatasetError or a self-consistent parse for structurally random headers', async () => {
    const header = fc.record({
      zeros: fc.tuple(fc.integer({ min: 0, max: 1 }), fc.integer({ min: 0, max: 1 })),
      type: fc.constantFrom(0x08, 0x09, 0x0b, 0x0d, 0x0e, 0x00, 0xff),
      rank: fc.integer({ min: 0, max: 255 }),
      dims: fc.array(fc.oneof(fc.integer({ min: 0, max: 8 }), fc.constant(0xffffffff), fc.nat()), { maxLength: 6 }),
      data: fc.uint8Array({ maxLength: 64 }),
      gz: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(header, async (h) => {
        const raw = new Uint8Array(4 + 4 * h.dims.length + h.data.length);
        const view = new DataView(raw.buffer);
        [raw[0], raw[1], raw[2], raw[3]] = [h.zeros[0], h.zeros[1], h.type, h.rank];
        h.dims.forEach((d, i) => view.setUint32(4 + 4 * i, d >>> 0, false));
        raw.set(h.data, 4 + 4 * h.dims.length);
        const result = await outcome(() => parseIdx(h.gz ? new Uint8Array(gzipSync(raw)) : raw, 'random.idx'), DatasetError);
        if (!(result instanceof Error)) expect(result.data.length).toBe(result.shape.reduce((a, b) => a * b, 1));
      }),
      RUNS,
    );
  });
});

/** A few tensors with distinct names, F32 or I8, of small random shapes and values. */
const tensorList = fc.uniqueArray(fc.string({ minLength: 1, maxLength: 8 }), { minLength: 0, maxLength: 4 }).chain((names) =>
  fc.tuple(
    ...names.map((name) =>
      fc.record({ shape: fc.array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 }), int8: fc.boolean(), seed: fc.integer() }).map(({ shape, int8, seed }) => {
        const n = shape.reduce((a, b) => a * b, 1);
        return int8
          ? ({ name, shape, data: Int8Array.from({ length: n }, (_, i) => ((seed + i * 37) % 256) - 128) } as Int8Tensor)
          : ({ name, shape, data: Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(seed + i) * 10)) } as NamedTensor);
      }),
    ),
  ),
);
const metadata = fc.dictionary(fc.string({ maxLength: 6 }).filter((k) => k !== '__proto__'), fc.string({ maxLength: 6 }), { maxKeys: 3 });

describe('safetensors files under fuzzing', () => {
  it('round-trip valid random files', () => {
    fc.assert(
      fc.property(tensorList, metadata, (tensors, meta) => {
        const { tensors: f32, int8, metadata: back } = decodeSafetensors(encodeSafetensors(tensors, meta));
        expect(back).toEqual(meta);
        for (const t of tensors) {
          const found = (t.data instanceof Int8Array ? int8 : f32).get(t.name)!;
          expect(found.shape).toEqual(t.shape);
          expect([...found.data]).toEqual([...t.data]);
        }
        expect(f32.size + int8.size).toBe(tensors.length);
      }),
      RUNS,
    );
  });

  it('give a CheckpointError or a consistent decode for corrupted files', () => {
    fc.assert(
      fc.property(tensorList, corruption, (tensors, c) => {
        const bytes = corrupt(encodeSafetensors(tensors), c);
        const result = decodeOrError(bytes);
        if (!(result instanceof Error)) consistent(result);
      }),
      { numRuns: 300 },
    );
  });

  it('give a CheckpointError or a consistent decode for structurally random headers', () => {
    const anything = fc.oneof(fc.constant(null), fc.boolean(), fc.double(), fc.string({ maxLength: 4 }), fc.array(fc.nat(), { maxLength: 3 }), fc.object({ maxDepth: 1 }));
    const offset = fc.oneof(fc.integer({ min: 0, max: 24 }), fc.double({ min: -1, max: 30 }), anything);
    const entry = fc.oneof(
      anything,
      fc.record(
        {
          dtype: fc.oneof(fc.constantFrom('F32', 'I8', 'I64', 'F16', 'U8', 'f32', ''), anything),
          shape: fc.oneof(fc.array(fc.oneof(fc.integer({ min: 0, max: 4 }), fc.integer({ min: -2, max: -1 }), fc.double({ min: 0, max: 4 })), { maxLength: 3 }), anything),
          data_offsets: fc.oneof(fc.tuple(offset, offset), fc.array(offset, { maxLength: 3 }), anything),
        },
        { requiredKeys: [] },
      ),
    );
    const header = fc.oneof(
      fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }), entry, { maxKeys: 4 }),
      fc.record({ __metadata__: fc.oneof(metadata, anything), w: entry }),
      anything,
    );
    fc.assert(
      fc.property(header, fc.integer({ min: 0, max: 40 }), (h, dataBytes) => {
        const json = new TextEncoder().encode(JSON.stringify(h));
        const bytes = new Uint8Array(8 + json.length + dataBytes);
        new DataView(bytes.buffer).setBigUint64(0, BigInt(json.length), true);
        bytes.set(json, 8);
        const result = decodeOrError(bytes);
        if (!(result instanceof Error)) consistent(result);
      }),
      { numRuns: 400 },
    );
  });
});

function decodeOrError(bytes: Uint8Array): ReturnType<typeof decodeSafetensors> | Error {
  try {
    return decodeSafetensors(bytes, { source: 'fuzz.safetensors' });
  } catch (e) {
    if (e instanceof CheckpointError && e.message.startsWith('fuzz.safetensors: ')) return e;
    if (e instanceof CheckpointError) throw new Error(`CheckpointError without the file's name: ${e.message}`);
    throw new Error(`expected CheckpointError, got ${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`);
  }
}

/** Every decoded tensor holds exactly as many values as its shape says, and the metadata is strings. */
function consistent({ tensors, int8, metadata: m }: ReturnType<typeof decodeSafetensors>): void {
  for (const t of [...tensors.values(), ...int8.values()]) {
    expect(t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)).toBe(true);
    expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
  }
  for (const v of Object.values(m)) expect(typeof v).toBe('string');
}
