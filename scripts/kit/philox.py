"""The engine's random normals, drawn bit for bit as its GPU kernel draws them, so that a resumed
GAN sees the very noise the engine would have drawn next.

Philox4x32-10 (Salmon et al., SC'11; the Random123 reference): key = the 64-bit seed as (low word,
high word), counter = (i // 4, stream, 0, 0) for element i. Each 4-word output gives 4 normals by
Box-Muller on word pairs: r = sqrt(-2 log u1) with u1 = ((w0 >> 8) + 1) / 2^24, theta = pi (2 u2 - 1)
with u2 = (w1 >> 8) / 2^24; normals r cos(theta), r sin(theta). The words are the GPU's, bit for bit.
The normals here are within 1e-7 of exact; the GPU's are within what WGSL allows its log, cos and
sin (cos and sin: 2^-11 absolute), which on SwiftShader is ~1e-4 of the noise's norm.

webgpu-dl's GanTrainer fills the discriminator step's latent batch with normal(seed * 3 + 101,
stream = t - 1) and the generator step's with normal(seed * 3 + 102, stream = t - 1), t being the
network's 1-based update count, the batch row-major [batch, latent].
"""
import numpy as np

MASK = 0xFFFFFFFF
MULTIPLIERS = (0xD2511F53, 0xCD9E8D57)
WEYL = (0x9E3779B9, 0xBB67AE85)


def philox4x32(counter, key):
    """Philox4x32-10 of counters (four uint32 arrays of one shape) under key (two ints)."""
    c0, c1, c2, c3 = (np.asarray(c, dtype=np.uint64) for c in counter)
    k0, k1 = key[0] & MASK, key[1] & MASK
    for round in range(10):
        if round:
            k0, k1 = (k0 + WEYL[0]) & MASK, (k1 + WEYL[1]) & MASK
        p0, p1 = np.uint64(MULTIPLIERS[0]) * c0, np.uint64(MULTIPLIERS[1]) * c2
        c0, c1, c2, c3 = (p1 >> np.uint64(32)) ^ c1 ^ np.uint64(k0), p1 & np.uint64(MASK), (p0 >> np.uint64(32)) ^ c3 ^ np.uint64(k1), p0 & np.uint64(MASK)
    return tuple(c.astype(np.uint32) for c in (c0, c1, c2, c3))


def seed_words(seed):
    return seed & MASK, (seed >> 32) & MASK


def normal(count, seed, stream):
    """`count` standard normals (float32) of the engine's randomNormal(seed) for Philox stream `stream`."""
    groups = np.arange((count + 3) // 4, dtype=np.uint64)
    zeros = np.zeros_like(groups)
    words = philox4x32((groups, np.full_like(groups, stream & MASK), zeros, zeros), seed_words(seed))
    scale = np.float32(5.9604644775390625e-8)
    out = np.empty((len(groups), 4), dtype=np.float32)
    for pair, (a, b) in enumerate(((words[0], words[1]), (words[2], words[3]))):
        u1 = ((a >> np.uint32(8)) + np.uint32(1)).astype(np.float32) * scale
        u2 = (b >> np.uint32(8)).astype(np.float32) * scale
        r = np.sqrt(np.float32(-2.0) * np.log(u1))
        theta = np.float32(3.14159265358979) * (np.float32(2.0) * u2 - np.float32(1.0))
        out[:, 2 * pair] = r * np.cos(theta)
        out[:, 2 * pair + 1] = r * np.sin(theta)
    return out.reshape(-1)[:count]


def latent_noise(seed, network, update, batch, latent):
    """The [batch, latent] noise of the engine's GAN step `update` (1-based) of `network` ('discriminator' or 'generator')."""
    offset = {"discriminator": 101, "generator": 102}[network]
    return normal(batch * latent, seed * 3 + offset, update - 1).reshape(batch, latent)


if __name__ == "__main__":
    # The first Random123 known answer: counter 0, key 0.
    print([hex(int(w[0])) for w in philox4x32(([0], [0], [0], [0]), (0, 0))])
