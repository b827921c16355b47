import type { KernelSpec } from './kernel_spec.js';
import type { EngineInfo } from './open_device.js';

/**
 * What a kernel asks of the device, read from its WGSL and override constants: the workgroup size
 * (`@workgroup_size`, whose arguments may name overrides) and the bytes of its `var<workgroup>`
 * arrays (whose lengths may too). Lets the autotuner offer only candidates this device accepts:
 * GPUs take 1024 invocations and 48 KiB or more per workgroup, SwiftShader 256 and 32 KiB, and a
 * pipeline over the limits fails only when made, as a validation error.
 */
export interface WorkgroupNeeds {
  size: [number, number, number];
  invocations: number;
  workgroupBytes: number;
}

type Limits = EngineInfo['limits'];

/** The needs of `spec`, or undefined when its WGSL uses a form this reader does not evaluate. */
export function workgroupNeeds(spec: Pick<KernelSpec, 'code' | 'constants'>): WorkgroupNeeds | undefined {
  const scope = declarations(spec.code, spec.constants ?? {});
  const attr = /@workgroup_size\(([^)]*)\)/.exec(spec.code);
  if (!attr) return undefined;
  const dims = attr[1].split(',').map((e) => e.trim()).filter(Boolean).map((e) => evaluate(e, scope));
  while (dims.length < 3) dims.push(1);
  if (dims.length > 3 || dims.some((d) => !Number.isInteger(d) || d < 1)) return undefined;
  let workgroupBytes = 0;
  for (const m of spec.code.matchAll(/var<workgroup>\s+\w+\s*:\s*([^;]+);/g)) {
    const bytes = typeBytes(m[1].trim(), scope);
    if (!Number.isFinite(bytes)) return undefined;
    workgroupBytes += bytes;
  }
  const size = dims as [number, number, number];
  return { size, invocations: size[0] * size[1] * size[2], workgroupBytes };
}

/** WGSL `enable` extensions and the device features they need. */
const FEATURE_OF_EXTENSION: Record<string, string> = { f16: 'shader-f16', subgroups: 'subgroups' };

/** The device features `code` needs: those of its `enable` directives (unknown names as written). */
export function requiredFeatures(code: string): string[] {
  const names = [...code.matchAll(/^\s*enable\s+([\w\s,]+);/gm)].flatMap((m) => m[1].split(',').map((n) => n.trim()).filter(Boolean));
  return [...new Set(names.map((n) => FEATURE_OF_EXTENSION[n] ?? n))];
}

/**
 * Why the device refuses `spec` (a feature it lacks, or the limit, its value and the kernel's
 * need), or undefined when it accepts it or the need cannot be read (the pipeline's own
 * validation then decides). `features`: the device's (EngineInfo.features); omitted, not checked.
 */
export function limitRefusal(spec: KernelSpec, limits: Limits, features?: readonly string[]): string | undefined {
  if (features) {
    const missing = requiredFeatures(spec.code).find((f) => !features.includes(f));
    if (missing) return `${spec.name} needs the device feature '${missing}', which this device does not have`;
  }
  const needs = workgroupNeeds(spec);
  const checks: [string, number, number][] = [];
  if (needs) {
    checks.push(
      ['maxComputeInvocationsPerWorkgroup', needs.invocations, limits.maxComputeInvocationsPerWorkgroup],
      ['maxComputeWorkgroupSizeX', needs.size[0], limits.maxComputeWorkgroupSizeX],
      ['maxComputeWorkgroupSizeY', needs.size[1], limits.maxComputeWorkgroupSizeY],
      ['maxComputeWorkgroupStorageSize', needs.workgroupBytes, limits.maxComputeWorkgroupStorageSize],
    );
  }
  for (const n of spec.workgroups) checks.push(['maxComputeWorkgroupsPerDimension', n, limits.maxComputeWorkgroupsPerDimension]);
  const over = checks.find(([, need, limit]) => limit !== undefined && need > limit);
  return over && `${spec.name} needs ${over[0]} ${over[1]}, over this device's ${over[2]}`;
}

/** Overrides (set by `constants` or their default) and module-scope constants, by name. */
function declarations(code: string, constants: Record<string, number>): Map<string, number> {
  const scope = new Map<string, number>();
  for (const m of code.matchAll(/^\s*(override|const)\s+(\w+)\s*(?::\s*\w+)?\s*(?:=\s*([^;]+))?;/gm)) {
    const [, kind, name, init] = m;
    if (kind === 'override' && name in constants) scope.set(name, constants[name]);
    // Function-scope constants come later in the text and never size a workgroup: first one wins.
    else if (init !== undefined && !scope.has(name)) scope.set(name, evaluate(init, scope));
  }
  return scope;
}

/** Bytes of a workgroup variable's type (scalars, vectors and arrays of them), NaN when unknown. */
function typeBytes(type: string, scope: Map<string, number>): number {
  const array = /^array<\s*(.+)\s*,\s*([^,<>]+)>$/.exec(type);
  if (array) return stride(array[1].trim(), scope) * evaluate(array[2], scope);
  return size(type);
}

/** An array element's stride: its size rounded up to its alignment (vec3 takes 16 bytes). */
function stride(type: string, scope: Map<string, number>): number {
  if (type.startsWith('array<')) return typeBytes(type, scope);
  return type.startsWith('vec3') ? (size(type) / 3) * 4 : size(type);
}

function size(type: string): number {
  const scalar: Record<string, number> = { f32: 4, u32: 4, i32: 4, f16: 2, 'atomic<u32>': 4, 'atomic<i32>': 4 };
  if (type in scalar) return scalar[type];
  const vec = /^vec([234])(?:([fiuh])|<\s*(f32|u32|i32|f16)\s*>)$/.exec(type);
  if (!vec) return NaN;
  const element = vec[2] === 'h' || vec[3] === 'f16' ? 2 : 4;
  return Number(vec[1]) * element;
}

/** Integer arithmetic (+ - * / and parentheses) over literals (`16`, `4u`) and names in `scope`. */
function evaluate(expr: string, scope: Map<string, number>): number {
  const tokens = expr.match(/\d+[ui]?|\w+|[-+*/()]/g) ?? [];
  let i = 0;
  const primary = (): number => {
    const t = tokens[i++];
    if (t === undefined) return NaN;
    if (t === '(') {
      const v = sum();
      return tokens[i++] === ')' ? v : NaN;
    }
    if (/^\d/.test(t)) return parseInt(t, 10);
    // `u32(x)` and the like: a conversion of an integer is the integer.
    if (tokens[i] === '(' && /^(u32|i32|f32)$/.test(t)) return primary();
    return scope.get(t) ?? NaN;
  };
  const product = (): number => {
    let v = primary();
    while (tokens[i] === '*' || tokens[i] === '/') v = tokens[i++] === '*' ? v * primary() : Math.trunc(v / primary());
    return v;
  };
  const sum = (): number => {
    let v = product();
    while (tokens[i] === '+' || tokens[i] === '-') v = tokens[i++] === '+' ? v + product() : v - product();
    return v;
  };
  const value = sum();
  return i === tokens.length ? value : NaN;
}
