/**
 * The public API of webgpu-dl. Everything an application uses is exported here, and nothing else.
 * Training in a Web Worker has its own entry, `webgpu-dl/worker`.
 * @module webgpu-dl
 */

// Device and errors
export { createEngine, Engine, type EngineOptions, type EngineInfo, type EngineStats } from './gpu/engine.js';
export { MemoryTuneStore, type TuneStore } from './gpu/autotune.js';
export type { Autotuner, AutotunerOptions, CandidateTiming, TuneCandidate, TuneLaunch, TuneRecord } from './gpu/autotune.js';
export type { AdoptedKernels, DeviceCapabilities, DroppedKernel, RecordedConfigCheck } from './gpu/tune_adopt.js';
export { recordedConfigRefusal } from './kernels/recorded_configs.js';
export { adapterClass, type AdapterClass } from './gpu/tune_table.js';
export { KERNEL_CONFIGS_KEY, readKernelConfigs } from './gpu/tune_record.js';
export type { BufferRange } from './gpu/buffers.js';
export { TimestampProfiler, summarizeTimings, type PassTiming } from './gpu/profiler.js';
export type { GpuContext } from './gpu/context.js';
export { WebGPUDLError, WebGPUUnavailableError, ShapeError, KernelError, DeviceLostError, DisposedError, BusyError, DivergenceError } from './gpu/errors.js';
export { KernelConfigError } from './eager/forced_config.js';

// Eager tensors and ops (each op records GPU work; `await t.read()` submits and copies back)
export { Tensor, tensor, zeros, type DType } from './eager/tensor.js';
export { activation, activationGrad, relu, leakyRelu, sigmoid, tanh, gelu } from './eager/activation.js';
export { activationSaves, type Activation, type ActivationSpec } from '../shaders/lib/activations.js';
export { matmul, matmulWithRowSum, type MatmulOptions } from './eager/matmul.js';
export { conv2d, conv2dBackwardData, conv2dBackwardFilter, type Conv2dOptions as Conv2dOpOptions } from './eager/conv2d.js';
export { convTranspose2d, convTranspose2dBackwardData, convTranspose2dBackwardFilter, type ConvTranspose2dOptions as ConvTranspose2dOpOptions } from './eager/conv_transpose2d.js';
export { maxPool2d, maxPool2dBackward, avgPool2d, avgPool2dBackward, globalAvgPool, globalAvgPoolBackward } from './eager/pool2d.js';
export type { MaxPool2dOptions, AvgPool2dOptions } from './kernels/pool2d.js';
export { add, sub, mul, addBackward, subBackward, mulBackward, scale, scaleBackward, where, whereBackward, type BroadcastOptions, type BinaryGrads } from './eager/elementwise.js';
export { softmax, softmaxBackward } from './eager/softmax.js';
export { softmaxCrossEntropy, type SoftmaxCrossEntropyResult, type SoftmaxCrossEntropyOptions } from './eager/softmax_cross_entropy.js';
export { bceWithLogits, bceWithLogitsBackward } from './eager/bce_with_logits.js';
export { mse, mseBackward } from './eager/mse.js';
export { sum, mean, sumAll, sumBackward, meanBackward, sumAllBackward } from './eager/reduce.js';
export { batchNorm, batchNormEval, batchNormGrad, batchNormEvalGrad } from './eager/batch_norm.js';
export type { BatchNormParams, BatchNormTrainOptions, BatchNormEvalOptions, BatchNormGrads } from './eager/batch_norm.js';
export { dropout, dropoutGrad } from './eager/dropout.js';
export { randomBits, randomUniform, randomNormal, truncatedNormal, kaimingUniform, xavierUniform } from './eager/random.js';
export { sgdStep, adamStep, adamwStep, createSGDState, createAdamState, zeroGrad, clipGradNorm, type SGDState, type AdamState } from './eager/optimizer.js';

// Graphs and compiled steps
export { compileStep, CompiledStep, type StepDefinition, type StepGraph, type StepHooks, type StepStats, type InputSpec } from './graph/compile.js';
export { Graph, Value, type AnyNode } from './graph/ir.js';
export type { OpKind } from './graph/ops/kinds.js';
export { ParameterStore, type Init, type ParamEntry } from './graph/params.js';
export { FrozenView } from './graph/frozen_view.js';
export { gradients } from './graph/autodiff.js';

// Layers, models, optimizers
export { Module, type ForwardContext, type ParamSpec } from './nn/module.js';
export { Linear, Activation as ActivationLayer, ReLU, LeakyReLU, Sigmoid, Tanh, GELU, Softmax, Flatten, Sequential, Residual, AdaptiveAvgPool2d } from './nn/layers.js';
export { Conv2d, ConvTranspose2d, MaxPool2d, AvgPool2d, type Conv2dOptions, type Pool2dOptions } from './nn/conv.js';
export { BatchNorm1d, BatchNorm2d, LayerNorm, type BatchNormOptions } from './nn/normalization.js';
export { Embedding } from './nn/embedding.js';
export { crossEntropy, type CrossEntropyOutputs } from './nn/cross_entropy.js';
export { Dropout } from './nn/dropout.js';
export { CausalSelfAttention } from './nn/attention.js';
export { Optimizer, SGD, Adam, AdamW } from './optim/optimizers.js';
export type { SGDConfig, AdamConfig, NonFiniteMode, UniformImage } from './kernels/optimizer.js';
export { decodeStepHealth, type StepHealth } from './graph/step_health.js';
export { mnistMlp, mnistCnn } from './models/mnist.js';
export { mlpGenerator, mlpDiscriminator } from './models/gan.js';
export { charTransformer, checkTransformerConfig, type CharTransformer, type TransformerBlock, type TransformerMlp, type TransformerConfig } from './models/transformer.js';
export { resnet, resnetConfig, type ResNet, type ResNetConfig } from './models/resnet.js';

// Data
export { parseIdx, encodeIdx, DatasetError, type IdxArray, type ParseIdxOptions } from './data/idx.js';
export { imageDataset, splitDataset, classCount, type ImageDataset, type ImageSplits, type ClassOptions, type LabelFile } from './data/dataset.js';
export { loadIdxDataset, loadIdxFolder, loadIdxUrl, loadMnist, IDX_FILES } from './data/idx_files.js';
export { GpuImageDataset, Batcher, shuffledOrder, UNIT_RANGE, SYMMETRIC_RANGE, type Normalisation, type BatcherOptions } from './data/gpu_dataset.js';
export { checkAugmentation, isIdentityAugmentation, parseAugmentation, type Augmentation } from './data/augment.js';
export { tensorDataset, isTensorDataset, type TensorDataset, type TensorDatasetOptions, type Task, type FeatureArray, type TargetArrays } from './data/tensor_dataset.js';
export { GpuTensorDataset, uploadDataset, type ResidentDataset, type BatchGather } from './data/gpu_tensor_dataset.js';
export { textCorpus, encodeText, decodeTokens, evenlySpacedStarts, unigramEntropy, WindowSampler, VALIDATION_WINDOWS, type TextCorpus, type TextCorpusOptions } from './data/text.js';
export { GpuText, WindowGather } from './data/text_windows.js';
export { imageBytes } from './data/dataset.js';
export { cifarSplits, parseCifarBatches, parseCifarMeta, encodeCifarBatch, channelStatistics, type NamedBytes } from './data/cifar.js';
export { cifarFromTarGz } from './data/cifar_archive.js';
export { loadCifar, writeCifarFolder } from './data/cifar_files.js';
export { colorMnist, type ColorMnistOptions } from './data/color_mnist.js';
export { imageFolderSplits, rgbaToPlanes, type DecodedImage, type LabelledImage } from './data/image_folder.js';
export { loadImageFolder } from './data/image_folder_files.js';

// Training
export { Trainer, type TrainerOptions, type FitOptions, type EpochResult, type Progress, type ProfileOptions } from './train/trainer.js';
export { classificationEvaluation, regressionEvaluation, multiLabelEvaluation, type Evaluation, type RegressionEvaluation, type MultiLabelEvaluation, type AnyEvaluation, type Evaluations } from './train/task_metrics.js';
export { TASK_LOSS, type TrainingData } from './train/task_step.js';
export { Predictor, loadModel, type PredictorOptions, type PredictOptions, type PredictInput } from './train/predictor.js';
export type { InputNormalisation, NormalisationOrigin } from './train/input_normalisation.js';
export type { TrainerPredictorOptions } from './train/trainer_predictors.js';
export { TextTrainer, type TextTrainerOptions, type TextLosses, type TextProgress } from './train/text_trainer.js';
export { loadCharTransformer, transformerMetadata, transformerFromMetadata, type TransformerFile } from './train/text_checkpoint.js';
export { GanTrainer, fixedLatents, type GanOptions, type GanEpoch, type GanFitOptions, type GanResumePoint } from './train/gan.js';
export { MAX_SEED } from './train/seed.js';
export { stepDecay, cosine, linearWarmup, type Schedule } from './train/schedules.js';
export { confusionMatrix, classificationReport, rocAuc, argmaxRows, softmaxRows, type ClassReport } from './train/metrics.js';
export { encodeSafetensors, decodeSafetensors, checkCheckpoint, CheckpointError, type NamedTensor, type Int8Tensor, type DecodeOptions } from './train/safetensors.js';
export { readSafetensorsLayout, checkFinite, SAFETENSORS_DTYPE_BYTES, type SafetensorsLayout, type TensorEntry } from './train/safetensors_validate.js';
export { encodeOptimizerState, loadOptimizerState, runMetadata } from './train/optimizer_checkpoint.js';
export { restoreSnapshot, SnapshotRing, type AutoCheckpointOptions, type SnapshotTarget, type TrainingSnapshot, type LoopPosition } from './train/auto_checkpoint.js';
export { runWithRecovery, deviceLossOf, RecoveryError, type RecoveryInfo } from './train/resume.js';
export { encodeSnapshot, decodeSnapshot, readSnapshot, writeSnapshot } from './train/snapshot_file.js';

// Files (Node): atomic writes, bounded reads, and the limits on untrusted input (see SECURITY.md)
export { writeFilesAtomically, writeFileAtomically, outputPathProblem, FileWriteError, type WriteFault, type AtomicWriteOptions, type FileToWrite } from './io/atomic_write.js';
export { readFileWithin, type BoundedReadOptions, type FileErrorClass } from './io/read_bounded.js';
export { MAX_DATASET_FILE_BYTES, MAX_INFLATED_BYTES, MAX_CHECKPOINT_FILE_BYTES, MAX_SAFETENSORS_HEADER_BYTES } from './io/limits.js';

// Model compression
export { computePruningMasks, Pruner, type PruningOptions, type PruningScope, type SparsityReport, type TensorSparsity } from './compress/prune.js';
export { polynomialSparsity, type GradualPruning } from './compress/schedule.js';
export {
  quantizeStateDict,
  dequantizeStateDict,
  encodeQuantizedSafetensors,
  dequantizeSafetensors,
  SCALE_SUFFIX,
  type QuantizedStateDict,
  type QuantizationReport,
  type TensorQuantization,
} from './compress/quantize.js';
export { weightTensors, type TensorFilter } from './compress/select.js';
export {
  distill,
  distillationObjective,
  type DistillOptions,
  type DistillProgress,
  type DistillEpoch,
  type DistillationWeights,
  type DistillationObjective,
} from './compress/distill.js';
export { encodeGrayPng, imageGrid } from './train/png.js';

// Export: models to ONNX for ONNX Runtime and other runtimes
export { exportOnnx, ONNX_OPSET_RANGE, ONNX_INPUT, ONNX_OUTPUT, type OnnxExportOptions } from './export/onnx.js';
export { ONNX_LOWERINGS } from './export/onnx_layers.js';
export type { Int8Export } from './export/onnx_builder.js';
export { OnnxExportError } from './export/errors.js';
