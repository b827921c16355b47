import type { BufferRange } from '../gpu/buffers.js';
import type { Engine } from '../gpu/engine.js';
import { DisposedError } from '../gpu/errors.js';
import { randomNormalKernel, randomNormalUniforms } from '../kernels/random.js';

/**
 * Fills a buffer range with standard normal noise on the GPU, fresh for every call (Philox stream =
 * call count), for latent vectors of a generator. Pipeline and bind group are made once.
 */
export class NoiseSource {
  private calls = 0;

  private constructor(
    private readonly engine: Engine,
    private readonly count: number,
    private readonly seed: number,
    private readonly pipeline: GPUComputePipeline,
    private readonly bindGroup: GPUBindGroup,
    private uniform: GPUBuffer | undefined,
    private readonly workgroups: [number, number, number],
  ) {}

  static async create(engine: Engine, target: BufferRange, count: number, seed: number): Promise<NoiseSource> {
    const spec = randomNormalKernel(count, 0, 1, seed);
    const { pipeline, layout } = await engine.pipelines.get(spec);
    const uniform = engine.buffers.create(spec.uniforms!.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, 'noise uniforms');
    const bindGroup = engine.device.createBindGroup({
      layout,
      entries: [
        { binding: 0, resource: { buffer: target.buffer, offset: target.offset, size: count * 4 } },
        { binding: 1, resource: { buffer: uniform } },
      ],
    });
    return new NoiseSource(engine, count, seed, pipeline, bindGroup, uniform, spec.workgroups);
  }

  encode(encoder: GPUCommandEncoder): void {
    if (!this.uniform) throw new DisposedError('noise source was used after dispose()');
    this.engine.device.queue.writeBuffer(this.uniform, 0, randomNormalUniforms(this.count, 0, 1, this.seed, this.calls++ % 0x100000000));
    const pass = encoder.beginComputePass({ label: 'noise' });
    pass.setPipeline(this.pipeline);
    pass.setBindGroup(0, this.bindGroup);
    pass.dispatchWorkgroups(...this.workgroups);
    pass.end();
  }

  dispose(): void {
    if (this.uniform) this.engine.buffers.destroy(this.uniform);
    this.uniform = undefined;
  }
}
