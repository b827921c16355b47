#!/usr/bin/env python3
"""Continues the webgpu-dl training run this folder was exported from, in PyTorch.

    python3 train.py --data DIR                               # one process (CPU or one GPU)
    torchrun --nproc_per_node N train.py --data DIR           # N processes, DistributedDataParallel

Loads weights.safetensors and optimizer.safetensors (the weights and Adam's state that
`webgpu-dl train --out` wrote; a ResNet's: SGD's momentum buffers, see resnet.py; a GAN's: both
networks, see gan.py) into the model of model.py and torch.optim.Adam, and trains on with
the run's hyper-parameters (kit.json): the same learning rate, betas and eps, the same batch (split
evenly over the processes: DDP averages their gradients, so N processes step as one would on the
whole batch), and the same schedule from the step the engine stopped at. DIR holds the IDX files
the run read (train-images-idx3-ubyte, train-labels-idx1-ubyte, gzipped or not).

Under torchrun, processes talk over NCCL when CUDA is present (one GPU each, by LOCAL_RANK) and
over gloo on CPU. Every step prints a JSON line (step, lr, loss over the whole batch); --save writes
the weights and optimizer state as safetensors again, which `webgpu-dl` loads.
"""
import argparse
import json
import math
import os
import secrets

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from checkpoint_io import load_safetensors, save_safetensors
from model import HERE, build_model, load_kit
from torch_models import read_idx


def arguments():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="folder of the run's IDX files (a transformer's: the UTF-8 text it trained on; a ResNet's: the CIFAR-10 folder or .tar.gz)")
    p.add_argument("--epochs", type=int, help="the run's length in epochs; the schedule ends there (default: the recorded run's)")
    p.add_argument("--steps", type=int, help="stop after this many steps (default: to the end of the schedule)")
    p.add_argument("--batch-indices", help="comma-separated sample indices (a transformer's: window starts) used as every step's batch, without augmentation, for checking against the engine")
    p.add_argument("--noise", help="a GAN's latent noise for the steps run (safetensors: discriminator.N and generator.N, [batch, latent], N the 1-based update) instead of the engine's Philox draws, for checking against the engine")
    p.add_argument("--schedule-steps", type=int, help="a transformer run's length in steps; its schedule ends there (default: the recorded run's)")
    p.add_argument("--save", help="where to write the weights at the end (and FILE.optimizer.safetensors)")
    return p.parse_args()


def distributed():
    """(rank, world size, device), joining the process group when torchrun started several processes."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, torch.device("cuda" if torch.cuda.is_available() else "cpu")
    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    if cuda:
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        return dist.get_rank(), world, torch.device("cuda", local)
    return dist.get_rank(), world, torch.device("cpu")


def training_set(kit, folder):
    images = read_idx(os.path.join(folder, "train-images-idx3-ubyte"))
    labels = read_idx(os.path.join(folder, "train-labels-idx1-ubyte"))
    config = kit["config"]
    if images.shape[1:] != (config["height"], config["width"]):
        raise SystemExit(f"{folder}: images are {images.shape[1]}×{images.shape[2]}; the model was trained on {config['height']}×{config['width']}")
    limit = kit["recipe"].get("limit")
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    if "classes" in config and labels.max() >= config["classes"]:
        raise SystemExit(f"{folder}: label {labels.max()} is beyond the model's {config['classes']} classes")
    return torch.from_numpy(images.copy()), torch.from_numpy(labels.astype(np.int64))


def load_optimizer(model, path, weights_metadata, o):
    """torch.optim.Adam (AdamW where the recipe says so) over `model` holding the saved moments and step count, with the run's settings."""
    tensors, metadata = load_safetensors(path)
    kind = o.get("kind", "adam")
    if metadata.get("optimizer") != kind:
        raise SystemExit(f"{path}: holds {metadata.get('optimizer')} state; this kit resumes {kind}")
    for key in ("run_id", "step"):
        if key in metadata and key in weights_metadata and metadata[key] != weights_metadata[key]:
            raise SystemExit(f"{path} ({key} {metadata[key]}) was not saved with the weights ({key} {weights_metadata[key]})")
    optimizer = (torch.optim.AdamW if kind == "adamw" else torch.optim.Adam)(model.parameters(), lr=o["lr"], betas=(o["beta1"], o["beta2"]), eps=o["eps"], weight_decay=o["weightDecay"])
    state = optimizer.state_dict()
    step = int(metadata["step"])
    for index, (name, param) in enumerate(model.named_parameters()):
        entry = {"step": torch.tensor(float(step))}
        for key in ("exp_avg", "exp_avg_sq"):
            saved = tensors.get(f"{name}.{key}")
            if saved is None or saved.shape != param.shape:
                raise SystemExit(f"{path}: {name}.{key} is {None if saved is None else list(saved.shape)}, the parameter {list(param.shape)}")
            entry[key] = saved.to(param.device)
        state["state"][index] = entry
    optimizer.load_state_dict(state)
    return optimizer, step


def learning_rate(recipe, step, total):
    """The rate of 0-based step `step` of `total`, as the engine's schedule gives it."""
    base = recipe["optimizer"]["lr"]
    if recipe["schedule"] == "constant":
        return base
    return base * (1 + math.cos(math.pi * min(step, total) / max(1, total))) / 2


def batches(count, batch, start, total, seed, fixed):
    """(global step, sample indices) from `start` to `total`: a fresh shuffle every epoch, seeded alike on every process."""
    per_epoch = count // batch
    for step in range(start, total):
        if fixed is not None:
            yield step, fixed
            continue
        epoch, i = divmod(step, per_epoch)
        order = torch.randperm(count, generator=torch.Generator().manual_seed(seed * 7919 + epoch + 1))
        yield step, order[i * batch : (i + 1) * batch]


def fixed_batch(args):
    """The sample indices of --batch-indices (every step trains on them), or None."""
    return None if args.batch_indices is None else torch.tensor([int(i) for i in args.batch_indices.split(",")])


def process_share(batch, world):
    """How many of a batch's samples each of `world` processes takes."""
    if batch % world:
        raise SystemExit(f"the batch of {batch} does not split evenly over {world} processes; use a process count that divides it")
    return batch // world


def report_step(loss, optimizer, step, rank, world):
    """Prints the step's loss averaged over the processes (on rank 0), as a JSON event line."""
    reported = loss.detach().clone()
    if world > 1:
        dist.all_reduce(reported)
        reported /= world
    if rank == 0:
        print(json.dumps({"event": "step", "step": step + 1, "lr": optimizer.param_groups[0]["lr"], "loss": reported.item()}), flush=True)


def cross_entropy_step(trained, optimizer, x, y, lr, step, rank, world):
    """One optimizer step at rate `lr` on the cross-entropy of `trained`'s logits for x against labels y, reported."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    optimizer.zero_grad(set_to_none=True)
    loss = nn.functional.cross_entropy(trained(x), y)
    loss.backward()
    optimizer.step()
    report_step(loss, optimizer, step, rank, world)


def finish(args, rank, world, device, step, save_checkpoint):
    """Saves with `save_checkpoint(path)` where --save asks (rank 0 only), reports the end and leaves the process group."""
    if args.save and rank == 0:
        save_checkpoint(args.save)
    if rank == 0:
        print(json.dumps({"event": "done", "step": step, "processes": world, "device": str(device), "torch": torch.__version__, "save": args.save}))
    if world > 1:
        dist.destroy_process_group()


def main():
    args = arguments()
    kit = load_kit()
    recipe = kit["recipe"]
    rank, world, device = distributed()
    torch.manual_seed(recipe["seed"])
    if kit["model"] == "gan":
        from gan import train_gan

        return train_gan(args, kit, rank, world, device)
    if kit["model"] == "transformer":
        from text import train_text

        return train_text(args, kit, rank, world, device)
    if kit["model"] == "resnet":
        from resnet import train_resnet

        return train_resnet(args, kit, rank, world, device)

    model = build_model(kit)
    weights, weights_metadata = load_safetensors(os.path.join(HERE, kit["weights"]))
    model.load_state_dict(weights, strict=True)
    model.to(device)
    optimizer, start = load_optimizer(model, os.path.join(HERE, kit["optimizerState"]), weights_metadata, recipe["optimizer"])
    trained = DistributedDataParallel(model) if world > 1 else model

    images, labels = training_set(kit, args.data)
    if recipe.get("augment") and rank == 0:
        print(json.dumps({"event": "warning", "message": f"the run trained with random affine augmentation {recipe['augment']}; train.py trains on the images as they are"}), flush=True)
    fixed = fixed_batch(args)
    batch = recipe["batch"] if fixed is None else len(fixed)
    share = process_share(batch, world)
    if fixed is not None and int(fixed.max()) >= len(images):
        raise SystemExit(f"--batch-indices: {int(fixed.max())} is beyond the {len(images)} training samples")
    per_epoch = len(images) // recipe["batch"]
    total = (args.epochs or recipe["epochs"]) * per_epoch
    end = total if args.steps is None else min(total, start + args.steps)
    if rank == 0 and end <= start:
        print(json.dumps({"event": "nothing to do", "step": start, "total": total, "hint": "the schedule ended; pass --epochs N (more than the run's) to go on"}))

    step = start
    for step, indices in batches(len(images), recipe["batch"], start, end, recipe["seed"], fixed):
        mine = indices[rank * share : (rank + 1) * share]
        x = images[mine].to(device, torch.float32).unsqueeze(1) / 255.0
        y = labels[mine].to(device)
        cross_entropy_step(trained, optimizer, x, y, learning_rate(recipe, step, total), step, rank, world)
        step += 1

    finish(args, rank, world, device, step, lambda path: save(model, optimizer, path, kit["model"], step))


def save(model, optimizer, path, kind, step, optimizer_kind="adam"):
    """Weights and Adam's (or AdamW's) state as webgpu-dl writes them (Trainer.load and loadOptimizer read them back)."""
    pair = {"run_id": secrets.token_hex(16), "step": str(step), "format": "pt", "model": kind}
    save_safetensors(path, model.state_dict(), pair)
    state = optimizer.state_dict()["state"]
    moments = {}
    for index, (name, _) in enumerate(model.named_parameters()):
        for key in ("exp_avg", "exp_avg_sq"):
            moments[f"{name}.{key}"] = state[index][key]
    base = path[: -len(".safetensors")] if path.endswith(".safetensors") else path
    save_safetensors(base + ".optimizer.safetensors", moments, {**pair, "content": "optimizer", "optimizer": optimizer_kind})


if __name__ == "__main__":
    main()
