import type { ImageDataset } from '../data/dataset.js';
import { isTensorDataset, type TensorDataset } from '../data/tensor_dataset.js';
import { ShapeError } from '../gpu/errors.js';
import { CheckpointError } from './safetensors.js';

/**
 * How a `Predictor` turns byte inputs into floats: (byte/255 − mean[c]) / std[c], where c is the
 * sample's channel (dim 0 of an [C, H, W] or [C, L] sample; a flat [N] sample has one channel).
 * A number applies to every channel, so a scalar `Normalisation` ({ mean: 0, std: 1 }) is one too;
 * a list gives one value per channel, as `ImageDataset.channelNormalisation` does for training.
 */
export interface InputNormalisation {
  mean: number | readonly number[];
  std: number | readonly number[];
}

/** A checked `InputNormalisation` as a byte → float table per channel: [channels × 256]. */
export interface ByteTable {
  readonly channels: number;
  readonly values: Float32Array;
}

/** Channels of one sample of `inputShape`, as the normalisation counts them: dim 0 of a sample of rank ≥ 2, else 1. */
export function sampleChannels(inputShape: readonly number[]): number {
  return inputShape.length >= 2 ? inputShape[0] : 1;
}

/** Where a normalisation came from, for its errors: `field` as the user knows it, and any other fix than giving other values. */
export interface NormalisationOrigin {
  field: string;
  fix?: string;
}

/**
 * Checks `n` against `inputShape` and returns its byte table; a ShapeError names the field (e.g.
 * 'Predictor: normalisation'), the values, the lengths and inputShape, and says what to give.
 */
export function byteTable(n: unknown, inputShape: readonly number[], origin: NormalisationOrigin): ByteTable {
  const { field } = origin;
  const fix = origin.fix ? `; ${origin.fix}` : '';
  if (typeof n !== 'object' || n === null) {
    throw new ShapeError(`${field} must be an object { mean, std } of numbers or per-channel lists, got ${n === null ? 'null' : typeof n}${fix}`);
  }
  const channels = sampleChannels(inputShape);
  const { mean, std } = n as Record<string, unknown>;
  const means = perChannel(mean, 'mean', channels, inputShape, origin);
  const stds = perChannel(std, 'std', channels, inputShape, origin);
  stds.forEach((s, c) => {
    if (s <= 0) throw new ShapeError(`${field}.std ${show(std)} must be positive (channel ${c} has ${s}): bytes are divided by it${fix}`);
  });
  const values = new Float32Array(channels * 256);
  // The same float64 expression, rounded once to f32, as a float input normalised by hand.
  for (let c = 0; c < channels; c++) for (let v = 0; v < 256; v++) values[c * 256 + v] = (v / 255 - means[c]) / stds[c];
  return { channels, values };
}

/** `bytes` (whole samples of `perSample` values, channel planes one after another) normalised by `table`. */
export function normaliseBytes(bytes: Uint8Array, perSample: number, table: ByteTable): Float32Array {
  const out = new Float32Array(bytes.length);
  const plane = perSample / table.channels;
  for (let start = 0; start < bytes.length; start += perSample) {
    for (let c = 0; c < table.channels; c++) {
      const base = c * 256;
      const from = start + c * plane;
      for (let i = from; i < from + plane; i++) out[i] = table.values[base + bytes[i]];
    }
  }
  return out;
}

/**
 * The normalisation a checkpoint's metadata records (the CLI's ResNet files: `config` JSON with
 * `normalisation` { mean: [per channel], std: [per channel] }), or undefined when it records none.
 * A `config` that is not a JSON object is someone else's metadata and is ignored; a `normalisation`
 * in it that is not { mean, std } is a CheckpointError, ending with `fix` (how the caller can do without it).
 */
export function recordedNormalisation(metadata: Record<string, string>, source: string, fix = 'pass normalisation to loadModel to use another'): InputNormalisation | undefined {
  if (metadata.config === undefined) return undefined;
  let config: unknown;
  try {
    config = JSON.parse(metadata.config);
  } catch {
    return undefined;
  }
  if (typeof config !== 'object' || config === null || !('normalisation' in config)) return undefined;
  const n = (config as { normalisation: unknown }).normalisation;
  const isValue = (v: unknown) => typeof v === 'number' || (Array.isArray(v) && v.every((x) => typeof x === 'number'));
  if (typeof n !== 'object' || n === null || !isValue((n as InputNormalisation).mean) || !isValue((n as InputNormalisation).std)) {
    throw new CheckpointError(`${source}: metadata config.normalisation ${JSON.stringify(n)} must be { mean, std } of numbers or per-channel lists; ${fix}`);
  }
  const { mean, std } = n as InputNormalisation;
  return { mean, std };
}

/**
 * How `fit` normalises the bytes of `data`, where the data decides it: an image dataset's
 * `channelNormalisation`, a byte tensor dataset's own normalisation. Undefined where the trainer's
 * `normalisation` option decides (image datasets without channel statistics) or no bytes are normalised.
 */
export function dataNormalisation(data: ImageDataset | TensorDataset): InputNormalisation | undefined {
  return isTensorDataset(data) ? data.normalisation : data.channelNormalisation;
}

function perChannel(v: unknown, name: 'mean' | 'std', channels: number, inputShape: readonly number[], { field, fix }: NormalisationOrigin): number[] {
  const also = fix ? `; ${fix}` : '';
  const values = typeof v === 'number' ? Array<number>(channels).fill(v) : Array.isArray(v) ? (v as unknown[]) : undefined;
  if (!values) throw new ShapeError(`${field}.${name} must be a number or a list of one number per channel, got ${show(v)}${also}`);
  if (values.length !== channels) {
    const which = inputShape.length >= 2 ? `whose dim 0 gives ${channels} channel${channels === 1 ? '' : 's'}` : 'a flat sample of 1 channel';
    throw new ShapeError(`${field}.${name} ${show(v)} has ${values.length} values for inputShape [${inputShape.join(', ')}], ${which}; give ${channels} value${channels === 1 ? '' : 's'} (one per channel) or one number for all${also}`);
  }
  if (!values.every((x): x is number => typeof x === 'number' && Number.isFinite(x))) {
    throw new ShapeError(`${field}.${name} ${show(v)} must hold finite numbers${also}`);
  }
  return values;
}

function show(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(String).join(', ')}]`;
  return typeof v === 'string' ? `'${v}'` : String(v);
}
