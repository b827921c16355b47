"""The ResNet half of train.py: resumes a `webgpu-dl train --model resnet` run with
torch.optim.SGD (Nesterov momentum, L2 weight decay on every parameter, dampening 0) holding the
engine's momentum buffers, the cosine schedule from the recorded step, the per-channel
normalisation the run computed, and crop + flip augmentation (off with --batch-indices).

SGD's update is the engine's (shaders/optimizer.ts): g ← g + λθ; b ← μb + g (b ← g at the first
update); g ← g + μb (Nesterov); θ ← θ − lr·g — torch.optim.SGD's formula, so no adjustment is needed.

BatchNorm under DDP: each process sees only its share of the batch, so plain BatchNorm would
normalise with per-process statistics, and N processes would not step as one. The kit makes them
whole-batch statistics: torch's SyncBatchNorm on CUDA; on CPU (gloo; torch's SyncBatchNorm is
CUDA-only) GlooSyncBatchNorm2d below, which all-reduces the per-channel sums, differentiably.
"""
import json
import os
import secrets

import torch
import torch.distributed as dist
from torch import nn
from torch.distributed.nn.functional import all_reduce
from torch.nn.parallel import DistributedDataParallel

from checkpoint_io import load_safetensors, save_safetensors
from cifar import cifar_training_set, crop_and_flip, normalise
from model import HERE, build_model
from train import batches, cross_entropy_step, finish, fixed_batch, learning_rate, process_share


class GlooSyncBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the whole batch across the processes of
    `group` (biased variance to normalise, unbiased for running_var, as BatchNorm2d)."""

    group = None

    def forward(self, x):
        if not self.training:
            return super().forward(x)
        count = torch.tensor([float(x.numel() // x.shape[1])])
        dist.all_reduce(count, group=self.group)
        n = count.item()
        mean = all_reduce(x.sum((0, 2, 3)), group=self.group) / n
        centred = x - mean.view(1, -1, 1, 1)
        var = all_reduce((centred * centred).sum((0, 2, 3)), group=self.group) / n
        with torch.no_grad():
            m = self.momentum
            self.running_mean.mul_(1 - m).add_(m * mean)
            self.running_var.mul_(1 - m).add_(m * var * (n / (n - 1) if n > 1 else 1.0))
            self.num_batches_tracked.add_(1)
        return centred * torch.rsqrt(var + self.eps).view(1, -1, 1, 1) * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)


def sync_batch_norm(module, group):
    """Replaces every BatchNorm2d of `module` by GlooSyncBatchNorm2d, keeping its names, weights and running statistics."""
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            synced = GlooSyncBatchNorm2d(child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats)
            synced.load_state_dict(child.state_dict())
            synced.group = group
            setattr(module, name, synced)
        else:
            sync_batch_norm(child, group)
    return module


def load_sgd(model, path, weights_metadata, o):
    """torch.optim.SGD over `model` with the run's settings and the saved momentum buffers; (optimizer, step)."""
    tensors, metadata = load_safetensors(path)
    if metadata.get("optimizer") != "sgd":
        raise SystemExit(f"{path}: holds {metadata.get('optimizer')} state; this kit resumes SGD")
    for key in ("run_id", "step"):
        if key in metadata and key in weights_metadata and metadata[key] != weights_metadata[key]:
            raise SystemExit(f"{path} ({key} {metadata[key]}) was not saved with the weights ({key} {weights_metadata[key]})")
    optimizer = torch.optim.SGD(model.parameters(), lr=o["lr"], momentum=o["momentum"], dampening=o["dampening"], nesterov=o["nesterov"], weight_decay=o["weightDecay"])
    step = int(metadata["step"])
    if step > 0 and o["momentum"] > 0:
        state = optimizer.state_dict()
        for index, (name, param) in enumerate(model.named_parameters()):
            saved = tensors.get(f"{name}.momentum_buffer")
            if saved is None or saved.shape != param.shape:
                raise SystemExit(f"{path}: {name}.momentum_buffer is {None if saved is None else list(saved.shape)}, the parameter {list(param.shape)}")
            state["state"][index] = {"momentum_buffer": saved.to(param.device)}
        optimizer.load_state_dict(state)
    return optimizer, step


def save_sgd(model, optimizer, path, step):
    """Weights (with BatchNorm's running statistics) and SGD's momentum buffers, as webgpu-dl writes them."""
    pair = {"run_id": secrets.token_hex(16), "step": str(step), "format": "pt", "model": "resnet"}
    save_safetensors(path, model.state_dict(), pair)
    state = optimizer.state_dict()["state"]
    buffers = {f"{name}.momentum_buffer": state[i]["momentum_buffer"] for i, (name, _) in enumerate(model.named_parameters()) if "momentum_buffer" in state.get(i, {})}
    base = path[: -len(".safetensors")] if path.endswith(".safetensors") else path
    save_safetensors(base + ".optimizer.safetensors", buffers, {**pair, "content": "optimizer", "optimizer": "sgd"})


def train_resnet(args, kit, rank, world, device):
    recipe, config = kit["recipe"], kit["config"]
    model = build_model(kit)
    weights, weights_metadata = load_safetensors(os.path.join(HERE, kit["weights"]))
    model.load_state_dict(weights, strict=True)
    if world > 1:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model) if device.type == "cuda" else sync_batch_norm(model, dist.new_group())
    model.to(device)
    optimizer, start = load_sgd(model, os.path.join(HERE, kit["optimizerState"]), weights_metadata, recipe["optimizer"])
    trained = DistributedDataParallel(model) if world > 1 else model

    images, labels = cifar_training_set(args.data, recipe.get("limit"))
    if images.shape[1] != config["channels"] or labels.max() >= config["classes"]:
        raise SystemExit(f"{args.data}: {images.shape[1]}-channel images with labels up to {int(labels.max())}; the model takes {config['channels']} channels and {config['classes']} classes")
    fixed = fixed_batch(args)
    augment = {} if fixed is not None else recipe.get("augment") or {}
    others = sorted(k for k, v in augment.items() if v and k not in ("crop", "flip"))
    if others and rank == 0:
        print(json.dumps({"event": "warning", "message": f"the run also augmented with {others}; train.py applies crop and flip only"}), flush=True)
    batch = recipe["batch"] if fixed is None else len(fixed)
    share = process_share(batch, world)
    if fixed is not None and int(fixed.max()) >= len(images):
        raise SystemExit(f"--batch-indices: {int(fixed.max())} is beyond the {len(images)} training images")
    total = (args.epochs or recipe["epochs"]) * (len(images) // recipe["batch"])
    end = total if args.steps is None else min(total, start + args.steps)
    if rank == 0 and end <= start:
        print(json.dumps({"event": "nothing to do", "step": start, "total": total, "hint": "the schedule ended; pass --epochs N (more than the run's) to go on"}))

    step = start
    for step, indices in batches(len(images), recipe["batch"], start, end, recipe["seed"], fixed):
        chosen = images[indices]
        if augment:
            # Drawn for the whole batch, then split, so that N processes augment as one would.
            chosen = crop_and_flip(chosen, int(augment.get("crop", 0)), bool(augment.get("flip")), torch.Generator().manual_seed(recipe["seed"] * 1000003 + step))
        mine = slice(rank * share, (rank + 1) * share)
        x = normalise(chosen[mine], recipe["normalisation"], device)
        y = labels[indices][mine].to(device)
        cross_entropy_step(trained, optimizer, x, y, learning_rate(recipe, step, total), step, rank, world)
        step += 1

    finish(args, rank, world, device, step, lambda path: save_sgd(model, optimizer, path, step))
