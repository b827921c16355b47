import { KernelError } from './errors.js';
import { pipelineKey, type BindingKind, type KernelSpec } from './kernel_spec.js';

export interface CompiledKernel {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
}

const BUFFER_TYPE: Record<BindingKind, GPUBufferBindingType> = {
  read: 'read-only-storage',
  write: 'storage',
  uniform: 'uniform',
};

/**
 * Pipelines keyed by WGSL text, entry point, constants and binding layout. Compilation runs inside
 * error scopes so a bad kernel surfaces as a KernelError naming it, not a console warning later.
 */
export class PipelineCache {
  private readonly compiled = new Map<string, Promise<CompiledKernel>>();
  private readonly layouts = new Map<string, GPUBindGroupLayout>();
  /** The pipelines whose compilation finished, for synchronous lookups. */
  private readonly ready = new Map<string, CompiledKernel>();
  /** Compilation messages of every module made, for tests that demand warning-free WGSL. */
  readonly messages: { kernel: string; type: GPUCompilationMessageType; text: string }[] = [];

  constructor(private readonly device: GPUDevice) {}

  get size(): number {
    return this.compiled.size;
  }

  get(spec: KernelSpec): Promise<CompiledKernel> {
    const key = pipelineKey(spec);
    let entry = this.compiled.get(key);
    if (!entry) {
      entry = this.compile(spec);
      this.compiled.set(key, entry);
      entry.then(
        (kernel) => this.ready.set(key, kernel),
        () => this.compiled.delete(key),
      );
    }
    return entry;
  }

  /** The pipeline for `spec` if it has finished compiling, without waiting (eager recording). */
  peek(spec: KernelSpec): CompiledKernel | undefined {
    return this.ready.get(pipelineKey(spec));
  }

  bindGroupLayout(bindings: readonly BindingKind[]): GPUBindGroupLayout {
    const key = bindings.join(',');
    let layout = this.layouts.get(key);
    if (!layout) {
      layout = this.device.createBindGroupLayout({
        label: `layout(${key})`,
        entries: bindings.map((kind, binding) => ({
          binding,
          visibility: GPUShaderStage.COMPUTE,
          buffer: { type: BUFFER_TYPE[kind] },
        })),
      });
      this.layouts.set(key, layout);
    }
    return layout;
  }

  /**
   * The error scopes cover only the synchronous calls that make the module and layout, pushed and
   * popped with no await between. Scopes are one stack for everything on the device: held across an
   * await, they would catch what other code does meanwhile (another compile, a background tuning
   * job, a foreground dispatch) and pin its error on this kernel, while this kernel's own error
   * landed in theirs. The asynchronous pipeline creation reports its errors by rejecting instead.
   */
  private async compile(spec: KernelSpec): Promise<CompiledKernel> {
    const device = this.device;
    const layout = this.bindGroupLayout(spec.bindings);
    device.pushErrorScope('validation');
    device.pushErrorScope('internal');
    const module = device.createShaderModule({ code: spec.code, label: spec.name });
    const pipelineLayout = device.createPipelineLayout({ bindGroupLayouts: [layout] });
    const internal = device.popErrorScope();
    const validation = device.popErrorScope();
    const [info, internalError, validationError] = await Promise.all([module.getCompilationInfo(), internal, validation]);
    for (const m of info.messages) this.messages.push({ kernel: spec.name, type: m.type, text: `${m.lineNum}:${m.linePos} ${m.message}` });
    const errors = info.messages.filter((m) => m.type === 'error');
    if (errors.length) {
      throw new KernelError(spec.name, `WGSL does not compile:\n${errors.map((m) => `  line ${m.lineNum}:${m.linePos} ${m.message}`).join('\n')}`);
    }
    const failure = validationError ?? internalError;
    if (failure) throw new KernelError(spec.name, failure.message);
    try {
      const pipeline = await device.createComputePipelineAsync({
        label: spec.name,
        layout: pipelineLayout,
        compute: { module, entryPoint: spec.entryPoint, constants: spec.constants },
      });
      return { pipeline, layout };
    } catch (cause) {
      throw new KernelError(spec.name, `pipeline creation failed: ${(cause as Error).message}`);
    }
  }
}
