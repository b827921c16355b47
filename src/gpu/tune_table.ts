import type { EngineInfo } from './open_device.js';

/**
 * The configurations a compile starts from before this adapter has been tuned, by adapter class,
 * so that the first training step never waits for the autotuner (which then times the candidates
 * in the background and stores what it finds for the next compile).
 */
export type AdapterClass = 'swiftshader' | 'nvidia' | 'amd' | 'intel' | 'apple' | 'arm' | 'qualcomm' | 'other';

/** The class of an adapter from what it reports (vendor first; SwiftShader reports vendor 'google'). */
export function adapterClass(info: Pick<EngineInfo, 'vendor' | 'architecture' | 'description' | 'software'>): AdapterClass {
  const text = `${info.vendor} ${info.architecture} ${info.description}`.toLowerCase();
  if (info.software || text.includes('swiftshader')) return 'swiftshader';
  const vendors: [AdapterClass, RegExp][] = [
    ['nvidia', /nvidia|geforce|quadro|tesla/],
    ['amd', /\bamd\b|radeon|\bati\b/],
    ['intel', /intel/],
    ['apple', /apple/],
    ['arm', /\barm\b|mali/],
    ['qualcomm', /qualcomm|adreno/],
  ];
  return vendors.find(([, pattern]) => pattern.test(text))?.[0] ?? 'other';
}

/** Preferred configuration ids, best first, for the shape classes the pattern matches. */
export interface TableRule {
  shapeClass: RegExp;
  prefer: readonly string[];
}

/**
 * Per adapter class, rules tried in order; a rule whose preferred ids are not among a shape's
 * candidates (e.g. refused by this device's limits) falls through to the next rule, and a shape no
 * rule covers starts from its family's default (the first candidate: the kernels' own shape
 * heuristics). Ids and shape classes are those of src/kernels (matmul.ts, conv2d_gemm.ts,
 * conv2d_backward_filter.ts).
 *
 * The GPU rows are starting points from the kernels' design (workgroup-memory tiles
 * for large products, where barriers are cheap; split-K for long reductions into small outputs),
 * not measurements: the background tuner replaces them with measured winners on each machine.
 */
export const TUNE_TABLE: Readonly<Record<AdapterClass, readonly TableRule[]>> = {
  // The families' defaults (their first candidates) were measured fastest on SwiftShader.
  swiftshader: [],
  nvidia: gpuRules(),
  amd: gpuRules(),
  intel: gpuRules(),
  apple: gpuRules(),
  arm: [],
  qualcomm: [],
  other: [],
};

/**
 * Unmeasured on any GPU: design choices until the tuner times them. Large products start on the
 * double-buffered 128×128 tile of 8×8 blocks (the classic shape of a fast FP32 GEMM) where the
 * limits allow, else the 64×64 workgroup tile; small outputs on the 32×64 tile, then subgroup quads
 * where the device has subgroups; long reductions into small outputs on the 32-way split of the
 * double-buffered 64×64 tile (64 workgroups for the CNN's 64×128 output, K = 9216), else on split
 * register blocks.
 */
function gpuRules(): TableRule[] {
  return [
    { shapeClass: /^matmul\.\w\w\.large\./, prefer: ['dbuf128x128-r8x8-k8', 'tile64x64-k16', 'tile32x64-k8'] },
    { shapeClass: /^matmul\.\w\w\.small\./, prefer: ['tile32x64-k8', 'sg4x4-wg16x4', 'reg4x4-wg16x4'] },
    { shapeClass: /^matmul\.\w\w\.splitk\./, prefer: ['dbuf64x64-r8x8-k8-split32', 'reg4x4-wg16x4-split16', 'reg4x4-wg16x4-split4'] },
    { shapeClass: /^(conv2d|conv_transpose2d)(_backward_data)?\|/, prefer: ['tiled_32x32'] },
  ];
}

/**
 * The table's choice for `shapeClass` among `candidateIds` on an adapter of class `adapter`, or
 * undefined when no rule covers it. `table` is for tests.
 */
export function tableChoice(
  adapter: AdapterClass,
  shapeClass: string,
  candidateIds: readonly string[],
  table: Readonly<Record<AdapterClass, readonly TableRule[]>> = TUNE_TABLE,
): string | undefined {
  for (const rule of table[adapter]) {
    if (!rule.shapeClass.test(shapeClass)) continue;
    const id = rule.prefer.find((p) => candidateIds.includes(p));
    if (id) return id;
  }
  return undefined;
}
