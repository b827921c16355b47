import type * as TF from '@tensorflow/tfjs';

export interface TfjsTransformerShape {
  vocab: number;
  layers: number;
  heads: number;
  dim: number;
  context: number;
}

/** A GPT written with TF.js ops as its users write one: variables, `tf.matMul`, `tf.softmax` under a causal mask, layer norm by moments. */
export interface TfjsTransformer {
  /** Logits [batch·context, vocab] of int32 tokens [batch, context]. */
  logits(x: TF.Tensor2D): TF.Tensor2D;
  variables: TF.Variable[];
  dispose(): void;
}

/** nanoGPT's layout and PyTorch's default initialisation (Linear U(±1/√in), Embedding N(0, 1), LayerNorm 1 and 0). */
export function tfjsTransformer(tf: typeof TF, s: TfjsTransformerShape): TfjsTransformer {
  const { vocab, layers, heads, dim, context } = s;
  const variables: TF.Variable[] = [];
  const v = (t: TF.Tensor) => {
    const variable = tf.variable(t);
    variables.push(variable);
    return variable;
  };
  const linear = (inputs: number, outputs: number, bias = true) => {
    const bound = 1 / Math.sqrt(inputs);
    return { w: v(tf.randomUniform([inputs, outputs], -bound, bound)), b: bias ? v(tf.randomUniform([outputs], -bound, bound)) : undefined };
  };
  const norm = () => ({ gamma: v(tf.ones([dim])), beta: v(tf.zeros([dim])) });
  const wte = v(tf.randomNormal([vocab, dim]));
  const wpe = v(tf.randomNormal([context, dim]));
  const blocks = Array.from({ length: layers }, () => ({ ln1: norm(), qkv: linear(dim, 3 * dim), proj: linear(dim, dim), ln2: norm(), fc: linear(dim, 4 * dim), out: linear(4 * dim, dim) }));
  const lnF = norm();
  const head = linear(dim, vocab);
  // Added to the scores: 0 on and below the diagonal, -1e9 above it.
  const mask = tf.keep(tf.mul(tf.sub(1, tf.linalg.bandPart(tf.ones([context, context]), -1, 0)), -1e9));

  const apply = (l: { w: TF.Tensor; b?: TF.Tensor }, x: TF.Tensor2D) => (l.b ? tf.add(tf.matMul(x, l.w), l.b) : tf.matMul(x, l.w)) as TF.Tensor2D;
  const layerNorm = (n: { gamma: TF.Tensor; beta: TF.Tensor }, x: TF.Tensor2D) => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, 1e-5))), n.gamma), n.beta) as TF.Tensor2D;
  };
  // tanh GELU: TF.js core has no erf-based GELU op (ours computes the erf form).
  const gelu = (x: TF.Tensor2D) => tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), Math.sqrt(2 / Math.PI))))) as TF.Tensor2D;
  const headSize = dim / heads;

  const attention = (x: TF.Tensor2D, batch: number, b: (typeof blocks)[number]) => {
    const qkv = apply(b.qkv, x);
    // [rows, 3·dim] → three [batch, heads, context, headSize].
    const split = tf.split(qkv, 3, 1).map((t) => tf.transpose(tf.reshape(t, [batch, context, heads, headSize]), [0, 2, 1, 3]));
    const [q, k, val] = split;
    const scores = tf.add(tf.mul(tf.matMul(q, k, false, true), 1 / Math.sqrt(headSize)), mask);
    const y = tf.matMul(tf.softmax(scores), val);
    return apply(b.proj, tf.reshape(tf.transpose(y, [0, 2, 1, 3]), [batch * context, dim]) as TF.Tensor2D);
  };

  return {
    logits(x) {
      const batch = x.shape[0];
      let h = tf.reshape(tf.add(tf.gather(wte, x), wpe), [batch * context, dim]) as TF.Tensor2D;
      for (const b of blocks) {
        h = tf.add(h, attention(layerNorm(b.ln1, h), batch, b));
        h = tf.add(h, apply(b.out, gelu(apply(b.fc, layerNorm(b.ln2, h)))));
      }
      return apply(head, layerNorm(lnF, h));
    },
    variables,
    dispose() {
      for (const variable of variables) variable.dispose();
      mask.dispose();
    },
  };
}
