import type { BufferBinding } from '../gpu/buffers.js';
import type { Engine } from '../gpu/engine.js';
import { DisposedError } from '../gpu/errors.js';
import type { KernelSpec } from '../gpu/kernel_spec.js';
import { encodeLaunch, makeLaunch, type Launch } from '../gpu/launch.js';

/** Opens a compute pass labelled `name`, e.g. `TimestampProfiler.beginPass`. */
export type PassOpener = (encoder: GPUCommandEncoder, name: string) => GPUComputePassEncoder;

const defaultPass: PassOpener = (encoder, name) => encoder.beginComputePass({ label: name });

/**
 * One kernel recorded in its own compute pass before (or after) a compiled step — a batch gather,
 * a noise fill — whose uniforms may change every time (a batch start, a random stream) without
 * allocating: the pipeline, bind group and uniform buffer are made once.
 */
export class StandaloneLaunch {
  private owned: GPUBuffer[];

  private constructor(
    private readonly engine: Engine,
    private readonly launch: Launch,
    owned: GPUBuffer[],
    private readonly uniform: GPUBuffer | undefined,
  ) {
    this.owned = owned;
  }

  static async create(engine: Engine, spec: KernelSpec, buffers: readonly BufferBinding[]): Promise<StandaloneLaunch> {
    const owned: GPUBuffer[] = [];
    const launch = await makeLaunch(engine, spec, buffers, owned);
    // Its encode() records straight into a caller's command buffer: eager work that fills the
    // buffers it reads (uploads, initialisers) must be submitted before that.
    await engine.flush();
    return new StandaloneLaunch(engine, launch, owned, owned[0]);
  }

  /**
   * Records the launch; `uniforms`, when given, replace the launch's uniforms from this submit on.
   * `beginPass` opens the pass (a profiler's, to time it).
   */
  encode(encoder: GPUCommandEncoder, uniforms?: ArrayBuffer, beginPass: PassOpener = defaultPass): void {
    if (!this.owned.length && this.uniform) throw new DisposedError(`${this.launch.name} was used after dispose()`);
    // Queue order puts this write before the submit that carries the pass recorded here.
    if (uniforms && this.uniform) this.engine.device.queue.writeBuffer(this.uniform, 0, uniforms);
    const pass = beginPass(encoder, this.launch.name);
    encodeLaunch(pass, this.launch);
    pass.end();
  }

  dispose(): void {
    for (const b of this.owned) this.engine.buffers.destroy(b);
    this.owned = [];
  }
}
