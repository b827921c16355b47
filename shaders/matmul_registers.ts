import {
  COMPONENTS,
  accumulatorsWGSL,
  batchSetupWGSL,
  bindingsWGSL,
  clampedLoadersWGSL,
  epilogueWGSL,
  kStepWGSL,
  paramsWGSL,
  storeBlockWGSL,
  type MatmulShaderOptions,
} from './matmul.js';

/**
 * Register-blocked matmul without workgroup memory: each invocation owns a TM×TN block of C held in
 * named vec4f accumulators (acc_r_c covers row r, columns 4c..4c+3), steps K by 4 and writes every
 * product out. On CPU adapters (SwiftShader) this is ~10× faster than a workgroup-tiled kernel:
 * barriers are costly there and private arrays indexed by loop counters leave registers. TM and TN
 * are multiples of 4 and shape the generated code; the workgroup size is an override.
 */
export function matmulRegistersShader(o: MatmulShaderOptions, tm: number, tn: number): string {
  if (tm % 4 !== 0 || tn % 4 !== 0) throw new Error(`matmul register block ${tm}×${tn}: both sides must be multiples of 4`);
  const body: string[] = [];
  const emit = (line: string) => body.push(`    ${line}`);
  const groupsM = tm / 4;
  const groupsN = tn / 4;

  // Operand coordinates that do not change along K, clamped so every load stays inside the matrix.
  const setup: string[] = [];
  if (o.transA) {
    for (let g = 0; g < groupsM; g++) {
      setup.push(o.vecA ? `  let ca_${g} = min(m0 + ${4 * g}u, params.M - 4u);` : `  let ca_${g} = m0 + ${4 * g}u;`);
    }
  } else {
    for (let r = 0; r < tm; r++) setup.push(`  let ra_${r} = min(m0 + ${r}u, params.M - 1u);`);
  }
  if (o.transB) {
    for (let n = 0; n < tn; n++) setup.push(`  let rb_${n} = min(n0 + ${n}u, params.N - 1u);`);
  } else {
    for (let c = 0; c < groupsN; c++) {
      setup.push(o.vecB ? `  let cb_${c} = min(n0 + ${4 * c}u, params.N - 4u);` : `  let cb_${c} = n0 + ${4 * c}u;`);
    }
  }

  for (const line of kStepWGSL(o, tm, tn, {
    aRow: (r) => `load_a(abase, ra_${r}, k)`,
    aCol: (j, g) => `load_a(abase, k + ${j}u, ca_${g})`,
    bRow: (j, c) => `load_b(bbase, k + ${j}u, cb_${c})`,
    bCol: (n) => `load_b(bbase, rb_${n}, k)`,
  })) {
    emit(line);
  }

  // K % 4 leftovers, one k at a time (only generated when K is not a multiple of 4).
  const tail: string[] = [];
  const temit = (line: string) => tail.push(`    ${line}`);
  if (o.kTail) {
    if (o.transA) {
      for (let g = 0; g < groupsM; g++) temit(`let a_${g} = load_a(abase, k, ca_${g});`);
    } else {
      for (let r = 0; r < tm; r++) temit(`let a_${r} = A[abase + ra_${r} * params.K + k];`);
    }
    if (o.transB) {
      for (let c = 0; c < groupsN; c++) {
        const lanes = [0, 1, 2, 3].map((t) => `B[bbase + rb_${4 * c + t} * params.K + k]`).join(', ');
        temit(`let b_${c} = vec4f(${lanes});`);
      }
    } else {
      for (let c = 0; c < groupsN; c++) temit(`let b_${c} = load_b(bbase, k, cb_${c});`);
    }
    for (let r = 0; r < tm; r++) {
      const a = o.transA ? `a_${r >> 2}.${COMPONENTS[r & 3]}` : `a_${r}`;
      for (let c = 0; c < groupsN; c++) temit(`acc_${r}_${c} += ${a} * b_${c};`);
    }
  }

  const tailLoop = o.kTail ? `  for (; k < k_end; k++) {\n${tail.join('\n')}\n  }` : '';
  return `${paramsWGSL}
${bindingsWGSL(o)}
${clampedLoadersWGSL(o)}
${epilogueWGSL(o)}
override WG_X: u32 = 16;
override WG_Y: u32 = 4;

@compute @workgroup_size(WG_X, WG_Y)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let n0 = gid.x * ${tn}u;
  let m0 = gid.y * ${tm}u;
  if (m0 >= params.M || n0 >= params.N) { return; }
  let z = gid.z;
${batchSetupWGSL}
${setup.join('\n')}
${accumulatorsWGSL(tm, tn)}
  var k = k_begin;
  for (; k + 4u <= k_end; k += 4u) {
${body.join('\n')}
  }
${tailLoop}
${storeBlockWGSL(o, tm, tn)}
}
`;
}
