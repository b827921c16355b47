import type { BufferRange } from '../gpu/buffers.js';
import type { Engine } from '../gpu/engine.js';
import { StandaloneLaunch } from '../graph/standalone_launch.js';
import { randomNormalKernel, randomNormalUniforms } from '../kernels/random.js';

/**
 * Fills a buffer range with standard normal noise on the GPU for latent vectors of a generator: the
 * Philox stream is given per call (GanTrainer passes the network's update count, so a resumed run
 * draws the noise the uninterrupted run would have, and scripts/kit/philox.py can draw it too).
 */
export class NoiseSource {
  private constructor(
    private readonly launch: StandaloneLaunch,
    private readonly count: number,
    private readonly seed: number,
  ) {}

  static async create(engine: Engine, target: BufferRange, count: number, seed: number): Promise<NoiseSource> {
    const launch = await StandaloneLaunch.create(engine, randomNormalKernel(count, 0, 1, seed), [{ ...target, size: count * 4 }]);
    return new NoiseSource(launch, count, seed);
  }

  encode(encoder: GPUCommandEncoder, stream: number): void {
    this.launch.encode(encoder, randomNormalUniforms(this.count, 0, 1, this.seed, stream % 0x100000000));
  }

  dispose(): void {
    this.launch.dispose();
  }
}
