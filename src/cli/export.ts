import { exportOnnx, ONNX_OPSET_RANGE } from '../export/onnx.js';
import { outputPathProblem, writeFileAtomically } from '../io/atomic_write.js';
import { MAX_CHECKPOINT_FILE_BYTES } from '../io/limits.js';
import { readFileWithin } from '../io/read_bounded.js';
import { mlpGenerator } from '../models/gan.js';
import { mnistCnn, mnistMlp } from '../models/mnist.js';
import type { Module } from '../nn/module.js';
import { CheckpointError, decodeSafetensors } from '../train/safetensors.js';
import { transformerFromMetadata } from '../train/text_checkpoint.js';
import { count, modelOf, parseFlags, UsageError } from './options.js';

export const EXPORT_USAGE = `usage: webgpu-dl export --weights FILE --format onnx --out FILE.onnx [options]

Writes a model trained by \`webgpu-dl train --out FILE\` (or compressed by \`webgpu-dl compress\`)
as an ONNX model for ONNX Runtime (onnxruntime-node, onnxruntime-web) and other ONNX runtimes:
input 'input' [N, ...] float32 with a dynamic batch N, output 'output'. No GPU is used.

options:
  --weights FILE      the weights (safetensors from webgpu-dl train --out or compress --out); required
  --format onnx       the output format (onnx is the only one); required
  --out FILE          where to write the model (written to a temporary file, then renamed); required
  --model mlp|cnn|gan the model the weights belong to, for checkpoints that do not record it (the
                      CLI's checkpoints do); gan exports the generator: latent vector in, image out.
                      A character transformer (train --model transformer) is rebuilt from the
                      configuration its checkpoint records
  --opset N           ONNX operator set, ${ONNX_OPSET_RANGE.min} to ${ONNX_OPSET_RANGE.max} (default ${ONNX_OPSET_RANGE.default})
  --dequantize        int8 weights (compress --quantize) written as f32, instead of int8 with a
                      DequantizeLinear per weight; the outputs are the same either way
  -h, --help          show this help

The layer sizes come from the weights' shapes: mlp inputs are the flattened image [N, pixels],
cnn inputs [N, 1, H, W] (square images), each pixel scaled to [0, 1] (byte / 255, as train feeds
them), and the outputs are the logits; gan inputs are latent vectors [N, latent], its outputs
images [N, pixels] in [-1, 1]; transformer inputs are windows of int64 token ids [N, context], its
outputs the logits [N, context, vocab].`;

type CliModel = 'mlp' | 'cnn' | 'gan' | 'transformer';

/** What each CLI model records as `model` in its checkpoints' metadata. */
const RECORDED: Record<string, CliModel> = { mlp: 'mlp', cnn: 'cnn', generator: 'gan', transformer: 'transformer' };

export async function exportCommand(argv: string[]): Promise<void> {
  const v = parseFlags(argv, {
    weights: { type: 'string' },
    format: { type: 'string' },
    out: { type: 'string' },
    model: { type: 'string' },
    opset: { type: 'string' },
    dequantize: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (v.help) return void console.log(EXPORT_USAGE);
  if (!v.weights) throw new UsageError('--weights FILE is required: the safetensors written by `webgpu-dl train --out FILE`');
  if (v.format === undefined) throw new UsageError('--format is required: --format onnx');
  if (v.format !== 'onnx') throw new UsageError(`--format ${v.format}: expected onnx`);
  if (!v.out) throw new UsageError('--out FILE is required: where to write the .onnx model');
  const opset = count('opset', v.opset, ONNX_OPSET_RANGE.default, ONNX_OPSET_RANGE.min, ONNX_OPSET_RANGE.max);
  const given = v.model === undefined ? undefined : modelOf<Exclude<CliModel, 'transformer'>>(v.model, ['mlp', 'cnn', 'gan']);
  const problem = await outputPathProblem(v.out);
  if (problem) throw new UsageError(`--out ${v.out}: ${problem}`);

  const source = `--weights ${v.weights}`;
  const bytes = await readFileWithin(v.weights, { limit: MAX_CHECKPOINT_FILE_BYTES, limitName: 'MAX_CHECKPOINT_FILE_BYTES', error: CheckpointError, label: source, missingOk: true });
  if (!bytes) throw new UsageError(`${source}: no such file`);
  const { tensors, int8, metadata } = decodeSafetensors(bytes, { source, requireFinite: true });
  const recorded = metadata.model === undefined ? undefined : RECORDED[metadata.model];
  if (metadata.model !== undefined && !recorded) throw new UsageError(`${source} records model '${metadata.model}', which the CLI cannot rebuild (it exports mlp, cnn, transformer and the GAN's generator); use exportOnnx from the library`);
  if (recorded && given && recorded !== given) throw new UsageError(`--model ${given}: ${source} records model '${metadata.model}' (${recorded}); leave --model out`);
  const kind = recorded ?? given;
  if (!kind) throw new UsageError(`${source} does not record its model; give --model mlp, cnn or gan`);

  const shapes = new Map([...tensors.values(), ...int8.values()].map((t) => [t.name, t.shape]));
  const { model, inputShape } = kind === 'transformer' ? transformerOf(metadata, source) : rebuild(kind, shapes, source);
  const inputDtype = kind === 'transformer' ? 'u32' : 'f32';
  const onnx = exportOnnx(model, { inputShape, inputDtype, weights: bytes, opset, int8: v.dequantize ? 'dequantize' : 'qdq', metadata: { source: 'webgpu-dl export', model: kind } });
  await writeFileAtomically(v.out, onnx);
  const inputs = `[N, ${inputShape.join(', ')}]${inputDtype === 'u32' ? ' of int64 token ids' : ''}`;
  console.log(`webgpu-dl: ${kind === 'gan' ? 'generator' : kind} exported to ${v.out} (ONNX opset ${opset}, ${(onnx.byteLength / 1024).toFixed(1)} KiB; input 'input' ${inputs}, output 'output')`);
}

/** The character transformer its checkpoint's metadata describes, taking windows of `context` tokens. */
function transformerOf(metadata: Record<string, string>, source: string): { model: Module; inputShape: number[] } {
  const { model, config } = transformerFromMetadata(metadata, source);
  return { model, inputShape: [config.context] };
}

/** The CLI's model of `kind` with the layer sizes the weights' shapes give, and one sample's input shape. */
function rebuild(kind: Exclude<CliModel, 'transformer'>, shapes: ReadonlyMap<string, readonly number[]>, source: string): { model: Module; inputShape: number[] } {
  const need = (name: string, rank: number): readonly number[] => {
    const shape = shapes.get(name);
    if (!shape || shape.length !== rank) throw new CheckpointError(`${source}: a ${kind} checkpoint holds '${name}' of rank ${rank}; found ${shape ? `[${shape.join(', ')}]` : 'none'} (is --model right?)`);
    return shape;
  };
  // Linear layers sit at every other index from `first` (each followed by its activation).
  const linearChain = (first: number): (readonly number[])[] => {
    const layers = [];
    for (let i = first; shapes.has(`${i}.weight`); i += 2) layers.push(need(`${i}.weight`, 2));
    if (!layers.length) need(`${first}.weight`, 2);
    return layers;
  };
  if (kind === 'cnn') {
    const flat = need('6.weight', 2)[1];
    const classes = need('8.weight', 2)[0];
    // 64 channels of ⌊(H − 4)/2⌋ × ⌊(W − 4)/2⌋ after two 3×3 convs and a 2×2 pool; square images assumed.
    const side = Math.sqrt(flat / 64);
    if (!Number.isInteger(side)) throw new CheckpointError(`${source}: '6.weight' takes ${flat} inputs, not 64 channels of a square image; export it with exportOnnx from the library`);
    const size = 2 * side + 4;
    return { model: mnistCnn([size, size], classes), inputShape: [1, size, size] };
  }
  if (kind === 'mlp') {
    const layers = linearChain(1);
    const hidden = layers.slice(0, -1).map((s) => s[0]);
    return { model: mnistMlp(hidden, layers[0][1], layers[layers.length - 1][0]), inputShape: [layers[0][1]] };
  }
  const layers = linearChain(0);
  const hidden = layers.slice(0, -1).map((s) => s[0]);
  return { model: mlpGenerator(layers[0][1], hidden, layers[layers.length - 1][0]), inputShape: [layers[0][1]] };
}
