import { bindingResource, type BufferBinding } from './buffers.js';
import type { LaunchContext } from './context.js';
import { KernelError } from './errors.js';
import { storageBindingCount, type KernelSpec } from './kernel_spec.js';

/** A kernel launch ready to record: everything a dispatch needs is made. */
export interface Launch {
  name: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
  /** The launch's uniform buffer, if its spec has uniforms; rewriting it changes later runs. */
  uniform?: GPUBuffer;
}

/** Throws unless `buffers` has one buffer for each storage binding of `spec`. */
export function checkLaunchBuffers(spec: KernelSpec, buffers: readonly BufferBinding[]): void {
  const expected = storageBindingCount(spec);
  if (buffers.length !== expected) {
    throw new KernelError(spec.name, `expects ${expected} storage buffers, got ${buffers.length}`);
  }
}

/**
 * The one place a kernel description becomes GPU objects: its pipeline (from the cache), its
 * uniform buffer (written once with `spec.uniforms`) and its bind group over `buffers`, bound in
 * the order of the spec's storage bindings. The uniform buffer is pushed to `owned`, whose owner
 * destroys it.
 */
export async function makeLaunch(context: LaunchContext, spec: KernelSpec, buffers: readonly BufferBinding[], owned: GPUBuffer[]): Promise<Launch> {
  checkLaunchBuffers(spec, buffers);
  const { pipeline, layout } = await context.pipelines.get(spec);
  let uniform: GPUBuffer | undefined;
  if (spec.uniforms) {
    uniform = context.buffers.create(spec.uniforms.byteLength, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST, `${spec.name}.uniforms`);
    owned.push(uniform);
    context.device.queue.writeBuffer(uniform, 0, spec.uniforms);
  }
  let next = 0;
  const entries = spec.bindings.map((kind, binding) => ({
    binding,
    resource: kind === 'uniform' ? { buffer: uniform! } : bindingResource(buffers[next++]),
  }));
  const bindGroup = context.device.createBindGroup({ layout, entries, label: spec.name });
  return { name: spec.name, pipeline, bindGroup, workgroups: spec.workgroups, uniform };
}

/** Records `launch` into an open compute pass. */
export function encodeLaunch(pass: GPUComputePassEncoder, launch: Launch): void {
  pass.setPipeline(launch.pipeline);
  pass.setBindGroup(0, launch.bindGroup);
  pass.dispatchWorkgroups(...launch.workgroups);
}
