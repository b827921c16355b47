#!/usr/bin/env python3
"""Trains webgpu-dl's models in PyTorch with the CLI's recipes, on the same data, printing the same
JSON events, so that the two can be put side by side on the same cores (or a CUDA GPU).

    /usr/bin/python3 scripts/train_pytorch.py transformer --data FILE.txt [--context 64] [--layers 4]
        [--heads 4] [--dim 128] [--batch 12] [--steps 2000] [--lr 1e-3] [--eval-every 250]
        [--seed 1] [--init FILE.safetensors] [--device cpu|cuda]

transformer: the same as `webgpu-dl train --model transformer`: the text's sorted code points as the
vocabulary, the first 90% of the characters to train and the last 10% to validate; the very same
training windows (the engine's seeded xorshift32 stream of window starts); AdamW (beta2 0.99, weight
decay 0.1 on every parameter), gradients clipped to norm 1, nanoGPT's 100 warm-up steps then cosine
to lr / 10; the loss measured on the same fixed, evenly spaced windows of each split. Prints
{"event":"eval",...} every --eval-every steps and at the end, then {"event":"done",...}. The
initial weights are torch's own default draw (seeded), or the engine's checkpoint given by --init.

    /usr/bin/python3 scripts/train_pytorch.py resnet --data DIR [--depth 20] [--width 16] [--epochs 30]
        [--batch 128] [--lr 0.1] [--weight-decay 5e-4] [--limit N] [--no-augment] [--seed 1] [--threads N]

resnet: the same as `webgpu-dl train --model resnet` on a folder of CIFAR-10 binary batches (e.g. one
written by `webgpu-dl make-color-mnist`): SGD with Nesterov momentum 0.9, weight decay on every
parameter (BatchNorm's weight and bias included), lr annealed to 0 by cosine per step over
floor(N / batch) steps an epoch (the last partial batch dropped, as the engine's Trainer does),
random crops after 4-pixel zero padding (black, before normalisation) and horizontal flips,
per-channel normalisation with the training images' statistics, BatchNorm momentum 0.1 and eps
1e-5, He-initialised convolutions and fc weight. The same data, not the same order (torch's
shuffles and draws). Prints the CLI's epoch and done events.

Model-specific code stays in its own functions (one `train_<model>` per model family).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import CharTransformer, ResNet, cifar_splits  # noqa: E402

VALIDATION_WINDOWS = 200
WARMUP_STEPS = 100
ADAMW = dict(betas=(0.9, 0.99), weight_decay=0.1)
CLIP_NORM = 1.0


def text_corpus(path, context):
    """(vocab, tokens as int64, train token count), as the engine's textCorpus splits the text."""
    with open(path, "rb") as f:
        raw = f.read()
    if not raw:
        raise SystemExit(f"{path}: the text is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SystemExit(f"{path}: the file is not UTF-8 text ({e})")
    vocab = sorted(set(text))
    index = {c: i for i, c in enumerate(vocab)}
    tokens = np.fromiter((index[c] for c in text), dtype=np.int64, count=len(text))
    train = len(tokens) * 9 // 10
    if train < context + 1 or len(tokens) - train < context + 1:
        raise SystemExit(f"{path}: {len(tokens)} characters leave no window of {context + 1} in each 90/10 split")
    return vocab, tokens, train


def evenly_spaced_starts(first, end, context, count):
    last = end - context - 1
    if count == 1:
        return np.array([first], dtype=np.int64)
    return np.array([first + (i * (last - first)) // (count - 1) for i in range(count)], dtype=np.int64)


class WindowSampler:
    """The engine's WindowSampler: xorshift32 from (seed ^ 0x9e3779b9), each start = state % range."""

    def __init__(self, window_range, seed):
        self.range = window_range
        self.state = (seed ^ 0x9E3779B9) & 0xFFFFFFFF or 0x9E3779B9

    def next(self, n):
        out = np.empty(n, dtype=np.int64)
        for i in range(n):
            x = self.state
            x ^= (x << 13) & 0xFFFFFFFF
            x ^= x >> 17
            x ^= (x << 5) & 0xFFFFFFFF
            self.state = x
            out[i] = x % self.range
        return out


def nanogpt_lr(step, lr, min_lr, warmup, steps):
    if step < warmup:
        return lr * (step + 1) / (warmup + 1)
    if step > steps:
        return min_lr
    ratio = (step - warmup) / max(1, steps - warmup)
    return min_lr + 0.5 * (1 + math.cos(math.pi * ratio)) * (lr - min_lr)


def windows(tokens, starts, context):
    """Inputs and targets [len(starts), context] of the windows starting at `starts`."""
    rows = starts[:, None] + np.arange(context + 1)[None, :]
    w = torch.from_numpy(tokens[rows])
    return w[:, :-1], w[:, 1:]


def eval_windows(train, total_tokens, context, count=VALIDATION_WINDOWS):
    """The engine's fixed loss windows: `count` rounded up to batches of at most 50, evenly spaced."""
    batches = math.ceil(count / 50)
    batch = math.ceil(count / batches)
    total = batch * batches
    return batch, evenly_spaced_starts(0, train, context, total), evenly_spaced_starts(train, total_tokens, context, total)


@torch.no_grad()
def mean_loss(model, tokens, starts, batch, context, device):
    model.eval()
    losses = []
    for first in range(0, len(starts), batch):
        x, y = windows(tokens, starts[first : first + batch], context)
        logits = model(x.to(device))
        losses.append(torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1).to(device)).item())
    model.train()
    return sum(losses) / len(losses)


def train_transformer(a):
    torch.manual_seed(a.seed)
    device = torch.device(a.device)
    vocab, tokens, train = text_corpus(a.data, a.context)
    model = CharTransformer(len(vocab), a.context, a.layers, a.heads, a.dim, a.dropout).to(device)
    if a.init:
        from check_pytorch import load_safetensors

        model.load_state_dict(load_safetensors(a.init), strict=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=a.lr, **ADAMW)
    sampler = WindowSampler(train - a.context, a.seed)
    eval_batch, train_starts, val_starts = eval_windows(train, len(tokens), a.context)
    params = sum(p.numel() for p in model.parameters())
    print(f"train_pytorch: torch {torch.__version__} on {device} ({torch.get_num_threads()} threads); {len(tokens)} characters, vocabulary of {len(vocab)}; {params} parameters", file=sys.stderr)
    started = time.perf_counter()
    since, steps_since, last = time.perf_counter(), 0, None
    for step in range(a.steps):
        lr = nanogpt_lr(step, a.lr, a.lr / 10, WARMUP_STEPS, a.steps)
        for group in optimizer.param_groups:
            group["lr"] = lr
        x, y = windows(tokens, sampler.next(a.batch), a.context)
        logits = model(x.to(device))
        loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1).to(device))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP_NORM)
        optimizer.step()
        steps_since += 1
        done = step + 1
        if done % a.eval_every and done != a.steps:
            continue
        if device.type == "cuda":
            torch.cuda.synchronize()
        tokens_per_sec = steps_since * a.batch * a.context / (time.perf_counter() - since)
        last = {
            "trainLoss": mean_loss(model, tokens, train_starts, eval_batch, a.context, device),
            "valLoss": mean_loss(model, tokens, val_starts, eval_batch, a.context, device),
        }
        print(json.dumps({"event": "eval", "step": done, **last, "tokensPerSec": tokens_per_sec}, separators=(",", ":")), flush=True)
        since, steps_since = time.perf_counter(), 0
    print(json.dumps({"event": "done", "valLoss": last["valLoss"], "seconds": time.perf_counter() - started}, separators=(",", ":")), flush=True)


def transformer_flags(p):
    p.add_argument("--data", required=True)
    p.add_argument("--context", type=int, default=64)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.0)
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--init", help="start from these weights (an engine checkpoint) instead of torch's draw")
    p.add_argument("--device", default="cpu")
    p.set_defaults(run=train_transformer)


def channel_statistics(images):
    """Per-channel mean and deviation of uint8 images [n, C, H, W] as fractions of 255 (the engine's channelStatistics)."""
    x = images.astype(np.float64) / 255
    mean = x.mean(axis=(0, 2, 3))
    std = np.maximum(np.sqrt(np.maximum((x * x).mean(axis=(0, 2, 3)) - mean**2, 0)), 1 / 255)
    return mean, std


def crop_flip(batch, generator, pad=4):
    """Random crop after zero-padding by `pad` and a horizontal flip with probability 1/2, per image (uint8 in, float out)."""
    n, _, h, w = batch.shape
    padded = torch.nn.functional.pad(batch.float(), (pad, pad, pad, pad))
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator)
    flips = torch.rand(n, generator=generator) < 0.5
    out = torch.empty(batch.shape, dtype=torch.float32)
    for i in range(n):
        dy, dx = offsets[i].tolist()
        crop = padded[i, :, dy : dy + h, dx : dx + w]
        out[i] = crop.flip(-1) if flips[i] else crop
    return out


RESNET_SGD = dict(momentum=0.9, nesterov=True)


def resnet_optimizer(model, lr, weight_decay):
    """SGD with Nesterov momentum 0.9 and L2 weight decay on every parameter (BatchNorm's included), as the CLI's."""
    return torch.optim.SGD(model.parameters(), lr=lr, weight_decay=weight_decay, **RESNET_SGD)


def resnet_steps_per_epoch(count, batch):
    """The engine Trainer's steps an epoch: whole batches only (drop_last)."""
    if batch > count:
        raise SystemExit(f"--batch {batch}: the training set has only {count} images")
    return count // batch


def cosine_lr(step, total, lr):
    """The engine's cosine() schedule to 0 for 0-based global step `step` of `total` (CosineAnnealingLR, T_max = total)."""
    return 0.5 * lr * (1 + math.cos(math.pi * min(step, total) / max(1, total)))


def train_resnet(a):
    """The CLI's ResNet recipe: SGD Nesterov 0.9, weight decay on every parameter, cosine lr per step to 0,
    crop+flip, per-channel normalisation from the training images; each epoch runs floor(N / batch)
    steps of a fresh shuffle and drops the rest, as the engine's Trainer does (drop_last), so the
    schedule has the engine's step count (its shuffles differ: same data, not the same order)."""
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    generator = torch.Generator().manual_seed(a.seed)
    train_x, train_y, test_x, test_y = cifar_splits(a.data)
    if a.limit:
        train_x, train_y = train_x[: a.limit], train_y[: a.limit]
    classes = int(max(train_y.max(), test_y.max())) + 1
    mean, std = channel_statistics(train_x)
    mean_t, std_t = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1), torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    normalise = lambda x: (x / 255 - mean_t) / std_t  # noqa: E731
    model = ResNet(a.depth, a.width, classes, train_x.shape[1])
    optimizer = resnet_optimizer(model, a.lr, a.weight_decay)
    steps_per_epoch = resnet_steps_per_epoch(len(train_x), a.batch)
    total = a.epochs * steps_per_epoch
    params = sum(p.numel() for p in model.parameters())
    print(f"train_pytorch: torch {torch.__version__} ({torch.get_num_threads()} threads); {len(train_x)} training / {len(test_x)} test images; ResNet-{a.depth} width {a.width}, {params} parameters; {steps_per_epoch} steps an epoch", file=sys.stderr)
    train_images, train_labels = torch.from_numpy(train_x), torch.from_numpy(train_y).long()
    test_images, test_labels = torch.from_numpy(test_x), torch.from_numpy(test_y).long()
    started, step, accuracy = time.perf_counter(), 0, None
    for epoch in range(1, a.epochs + 1):
        model.train()
        since = time.perf_counter()
        order = torch.randperm(len(train_x), generator=generator)
        loss_sum = correct = seen = 0
        for b in range(steps_per_epoch):
            idx = order[b * a.batch : (b + 1) * a.batch]
            x = normalise(crop_flip(train_images[idx], generator) if a.augment else train_images[idx].float())
            y = train_labels[idx]
            for group in optimizer.param_groups:
                group["lr"] = cosine_lr(step, total, a.lr)
            logits = model(x)
            loss = torch.nn.functional.cross_entropy(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            loss_sum += loss.item() * len(y)
            correct += (logits.argmax(1) == y).sum().item()
            seen += len(y)
        samples_per_sec = seen / (time.perf_counter() - since)
        model.eval()
        test_correct = test_loss = 0.0
        with torch.no_grad():
            for first in range(0, len(test_images), 500):
                logits = model(normalise(test_images[first : first + 500].float()))
                y = test_labels[first : first + 500]
                test_loss += torch.nn.functional.cross_entropy(logits, y, reduction="sum").item()
                test_correct += (logits.argmax(1) == y).sum().item()
        accuracy = test_correct / len(test_images)
        event = {"event": "epoch", "epoch": epoch, "loss": loss_sum / seen, "trainAccuracy": correct / seen, "testAccuracy": accuracy, "testLoss": test_loss / len(test_images), "samplesPerSec": samples_per_sec}
        print(json.dumps(event, separators=(",", ":")), flush=True)
    print(json.dumps({"event": "done", "testAccuracy": accuracy, "seconds": time.perf_counter() - started}, separators=(",", ":")), flush=True)


def resnet_flags(p):
    p.add_argument("--data", required=True, help="a folder of CIFAR-10 binary batches")
    p.add_argument("--depth", type=int, default=20)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--limit", type=int, default=0, help="train on the first N training images only")
    p.add_argument("--no-augment", dest="augment", action="store_false")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--threads", type=int, default=0, help="torch's CPU threads (default: torch's own choice)")
    p.set_defaults(run=train_resnet)


def main():
    parser = argparse.ArgumentParser(description="Train webgpu-dl's models in PyTorch with the CLI's recipes.")
    models = parser.add_subparsers(dest="model", required=True)
    transformer_flags(models.add_parser("transformer", help="the character transformer on a UTF-8 text"))
    resnet_flags(models.add_parser("resnet", help="the CIFAR ResNet on CIFAR-10 binary batches"))
    a = parser.parse_args()
    a.run(a)


if __name__ == "__main__":
    main()
