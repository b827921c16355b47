"""The GAN half of train.py: resumes a `webgpu-dl train --model gan` run, both networks with their
Adam state, alternating as the engine does: a discriminator step on real images (scaled to [-1, 1])
and generated ones, BCE(D(real), 1) + BCE(D(G(z)), 0), then a generator step on fresh noise,
BCE(D(G(z')), 1), which reads the discriminator without training it.

The noise of each step is the engine's own (philox.py draws it as the engine's GPU kernel does,
from the run's seed and the update count, to the rounding of the GPU's cos and sin), drawn for the
whole batch, then split over the processes like the images: the resumed run sees the noise the
engine would have drawn next, and N processes step as one would. --noise FILE gives the noise
instead (the engine's own draws, read back, when comparing a step with the engine's).
"""
import json
import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from checkpoint_io import load_safetensors
from model import HERE, build_discriminator, build_model
from philox import latent_noise
from train import batches, load_optimizer, save, training_set


def resume(model, kit, weights_name, state_name, device):
    weights, metadata = load_safetensors(os.path.join(HERE, kit[weights_name]))
    model.load_state_dict(weights, strict=True)
    model.to(device)
    return load_optimizer(model, os.path.join(HERE, kit[state_name]), metadata, kit["recipe"]["optimizer"])


def mean_over_processes(value, world):
    value = value.detach().clone()
    if world > 1:
        dist.all_reduce(value)
        value /= world
    return value.item()


def train_gan(args, kit, rank, world, device):
    recipe, latent = kit["recipe"], kit["config"]["latent"]
    generator, discriminator = build_model(kit), build_discriminator(kit)
    optimizer_g, start = resume(generator, kit, "weights", "optimizerState", device)
    optimizer_d, start_d = resume(discriminator, kit, "discriminator", "discriminatorOptimizerState", device)
    if start != start_d:
        raise SystemExit(f"the generator's state is at step {start}, the discriminator's at {start_d}; export them from one run")
    trained_g = DistributedDataParallel(generator) if world > 1 else generator
    trained_d = DistributedDataParallel(discriminator) if world > 1 else discriminator

    images, _ = training_set(kit, args.data)
    fixed = None if args.batch_indices is None else torch.tensor([int(i) for i in args.batch_indices.split(",")])
    batch = recipe["batch"] if fixed is None else len(fixed)
    if batch % world:
        raise SystemExit(f"the batch of {batch} does not split evenly over {world} processes; use a process count that divides it")
    share = batch // world
    total = (args.epochs or recipe["epochs"]) * (len(images) // recipe["batch"])
    end = total if args.steps is None else min(total, start + args.steps)
    bce = nn.BCEWithLogitsLoss()
    ones, zeros = torch.ones(share, 1, device=device), torch.zeros(share, 1, device=device)
    mine = slice(rank * share, (rank + 1) * share)

    given = load_safetensors(args.noise)[0] if args.noise else None

    def noise_of(network, update):
        if given is None:
            return torch.from_numpy(latent_noise(recipe["seed"], network, update, batch, latent))
        z = given.get(f"{network}.{update}")
        if z is None or list(z.shape) != [batch, latent]:
            raise SystemExit(f"--noise {args.noise}: {network}.{update} is {None if z is None else list(z.shape)}; expected [{batch}, {latent}]")
        return z

    step = start
    for step, indices in batches(len(images), recipe["batch"], start, end, recipe["seed"], fixed):
        real = (images[indices[mine]].to(device, torch.float32).reshape(share, -1) / 255.0 - 0.5) / 0.5
        z_d, z_g = (noise_of(network, step + 1)[mine].to(device) for network in ("discriminator", "generator"))
        for optimizer in (optimizer_d, optimizer_g):
            for group in optimizer.param_groups:
                group["lr"] = recipe["optimizer"]["lr"]

        with torch.no_grad():
            fake = generator(z_d)
        logits = trained_d(torch.cat([real, fake]))
        d_loss = bce(logits[:share], ones) + bce(logits[share:], zeros)
        optimizer_d.zero_grad(set_to_none=True)
        d_loss.backward()
        optimizer_d.step()

        # Frozen, so that no gradient reaches the discriminator (nor its DDP hooks) in the generator's step.
        discriminator.requires_grad_(False)
        g_loss = bce(discriminator(trained_g(z_g)), ones)
        optimizer_g.zero_grad(set_to_none=True)
        g_loss.backward()
        optimizer_g.step()
        discriminator.requires_grad_(True)

        d_mean, g_mean = mean_over_processes(d_loss, world), mean_over_processes(g_loss, world)
        if rank == 0:
            print(json.dumps({"event": "step", "step": step + 1, "lr": recipe["optimizer"]["lr"], "dLoss": d_mean, "gLoss": g_mean}), flush=True)
        step += 1

    if args.save and rank == 0:
        save(generator, optimizer_g, args.save, "generator", step)
        base = args.save[: -len(".safetensors")] if args.save.endswith(".safetensors") else args.save
        save(discriminator, optimizer_d, base + ".discriminator.safetensors", "discriminator", step)
    if rank == 0:
        print(json.dumps({"event": "done", "step": step, "processes": world, "device": str(device), "torch": torch.__version__, "save": args.save}))
    if world > 1:
        dist.destroy_process_group()
