import { exportOnnx, ONNX_OPSET_RANGE } from '../export/onnx.js';
import { outputPathProblem, writeFileAtomically } from '../io/atomic_write.js';
import { MAX_CHECKPOINT_FILE_BYTES } from '../io/limits.js';
import { readFileWithin } from '../io/read_bounded.js';
import { mlpGenerator } from '../models/gan.js';
import { mnistCnn, mnistMlp } from '../models/mnist.js';
import { resnet } from '../models/resnet.js';
import type { Module } from '../nn/module.js';
import { CheckpointError, decodeSafetensors } from '../train/safetensors.js';
import { transformerFromMetadata } from '../train/text_checkpoint.js';
import { count, modelOf, parseFlags, UsageError } from './options.js';
import { exportPyTorchKit } from './export_pytorch.js';

export const EXPORT_USAGE = `usage: webgpu-dl export --weights FILE --format onnx --out FILE.onnx [options]
       webgpu-dl export --weights FILE --format pytorch --out DIR

Writes a model trained by \`webgpu-dl train --out FILE\` (or compressed by \`webgpu-dl compress\`)
as an ONNX model for ONNX Runtime (onnxruntime-node, onnxruntime-web) and other ONNX runtimes:
input 'input' [N, ...] float32 with a dynamic batch N, output 'output'. No GPU is used.
With --format pytorch, an mlp, cnn, transformer or gan run becomes a folder DIR that continues
training it in PyTorch (model.py, train.py for one process or torchrun with DistributedDataParallel,
the weights and Adam's (AdamW's) state from FILE.optimizer.safetensors beside FILE, for a GAN also the discriminator's
files, and a README with the commands).

options:
  --weights FILE      the weights (safetensors from webgpu-dl train --out or compress --out); required
  --format NAME       onnx or pytorch; required
  --out PATH          the .onnx file, or the folder for pytorch (created if missing; each file is
                      written to a temporary file, then renamed); required
  --model NAME        mlp, cnn, gan or resnet: the model the weights belong to, for checkpoints
                      that do not record it (the CLI's checkpoints do); gan exports the
                      generator; a character transformer is rebuilt from the configuration
                      its checkpoint records
  --opset N           ONNX operator set, ${ONNX_OPSET_RANGE.min} to ${ONNX_OPSET_RANGE.max} (default ${ONNX_OPSET_RANGE.default})
  --dequantize        int8 weights (compress --quantize) written as f32, instead of int8 with a
                      DequantizeLinear per weight; the outputs are the same either way
  -h, --help          show this help

The layer sizes come from the weights' shapes. Inputs: mlp the flattened image [N, pixels] and cnn
[N, 1, H, W] (square images), each pixel scaled to [0, 1] (byte / 255, as train feeds them);
resnet [N, channels, 32, 32], normalised per channel as the checkpoint's config records; all
with logits out; gan latent vectors [N, latent], with images [N, pixels] in
[-1, 1] out; transformer windows of int64 token ids [N, context], with logits [N, context, vocab] out.`;

type CliModel = 'mlp' | 'cnn' | 'gan' | 'resnet' | 'transformer';

/** What each CLI model records as `model` in its checkpoints' metadata. */
const RECORDED: Record<string, CliModel> = { mlp: 'mlp', cnn: 'cnn', generator: 'gan', resnet: 'resnet', transformer: 'transformer' };

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
  if (v.format === undefined) throw new UsageError('--format is required: --format onnx or --format pytorch');
  if (v.format !== 'onnx' && v.format !== 'pytorch') throw new UsageError(`--format ${v.format}: expected onnx or pytorch`);
  if (!v.out) throw new UsageError(v.format === 'onnx' ? '--out FILE is required: where to write the .onnx model' : '--out DIR is required: the folder to write the PyTorch kit into');
  if (v.format === 'pytorch') {
    for (const flag of ['model', 'opset', 'dequantize'] as const) if (v[flag] !== undefined) throw new UsageError(`--${flag} applies to --format onnx only`);
    return exportPyTorchKit(v.weights, v.out);
  }
  const opset = count('opset', v.opset, ONNX_OPSET_RANGE.default, ONNX_OPSET_RANGE.min, ONNX_OPSET_RANGE.max);
  const given = v.model === undefined ? undefined : modelOf<Exclude<CliModel, 'transformer'>>(v.model, ['mlp', 'cnn', 'gan', 'resnet']);
  const problem = await outputPathProblem(v.out);
  if (problem) throw new UsageError(`--out ${v.out}: ${problem}`);

  const source = `--weights ${v.weights}`;
  const bytes = await readFileWithin(v.weights, { limit: MAX_CHECKPOINT_FILE_BYTES, limitName: 'MAX_CHECKPOINT_FILE_BYTES', error: CheckpointError, label: source, missingOk: true });
  if (!bytes) throw new UsageError(`${source}: no such file`);
  const { tensors, int8, metadata } = decodeSafetensors(bytes, { source, requireFinite: true });
  const recorded = metadata.model === undefined ? undefined : RECORDED[metadata.model];
  if (metadata.model !== undefined && !recorded) throw new UsageError(`${source} records model '${metadata.model}', which the CLI cannot rebuild (it exports mlp, cnn, resnet, transformer and the GAN's generator); use exportOnnx from the library`);
  if (recorded && given && recorded !== given) throw new UsageError(`--model ${given}: ${source} records model '${metadata.model}' (${recorded}); leave --model out`);
  const kind = recorded ?? given;
  if (!kind) throw new UsageError(`${source} does not record its model; give --model mlp, cnn, gan or resnet`);

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
  if (kind === 'resnet') {
    const [width, channels] = need('conv1.weight', 4);
    const classes = need('fc.weight', 2)[0];
    let blocks = 0;
    while (shapes.has(`layer1.${blocks}.conv1.weight`)) blocks++;
    // CIFAR images; the graph does not depend on the size (global average pooling), its declared input does.
    return { model: resnet({ depth: 6 * blocks + 2, width, classes, channels }), inputShape: [channels, 32, 32] };
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
