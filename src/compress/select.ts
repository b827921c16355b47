/** Chooses the tensors a compression method touches, by name and shape. */
export type TensorFilter = (name: string, shape: readonly number[]) => boolean;

/**
 * The default choice of pruning and quantisation: weights of rank ≥ 2 (Linear [out, in], Conv2d
 * [out, in, kh, kw]). Biases and batch norm's affine weight are rank 1: they are a tiny share of
 * the parameters, and zeroing or rounding a per-channel shift or gain hurts far more than it saves.
 */
export const weightTensors: TensorFilter = (name, shape) => name.endsWith('.weight') && shape.length >= 2;
