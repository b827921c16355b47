"""The character transformer's part of train.py: resumes `webgpu-dl train --model transformer` with
its AdamW, gradient clipping, nanoGPT schedule and stream of training windows.

The text is read, split and windowed by the very functions of scripts/train_pytorch.py (shipped
beside this file), so the vocabulary and the windows are the engine's: the sampler is advanced past
the windows of the steps already taken, and goes on where the engine's would.
"""
import json
import os

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from checkpoint_io import load_safetensors
from model import HERE, build_model
from train import finish, fixed_batch, load_optimizer, process_share, report_step, save
from train_pytorch import WindowSampler, nanogpt_lr, text_corpus, windows


def train_text(args, kit, rank, world, device):
    recipe, config = kit["recipe"], kit["config"]
    if args.epochs is not None:
        raise SystemExit("--epochs: a transformer run is measured in steps; give --schedule-steps N instead")
    model = build_model(kit)
    weights, weights_metadata = load_safetensors(os.path.join(HERE, kit["weights"]))
    model.load_state_dict(weights, strict=True)
    model.to(device)
    optimizer, start = load_optimizer(model, os.path.join(HERE, kit["optimizerState"]), weights_metadata, recipe["optimizer"])
    trained = DistributedDataParallel(model) if world > 1 else model

    context = config["context"]
    vocab, tokens, train = text_corpus(args.data, context)
    if vocab != kit["vocab"]:
        raise SystemExit(f"{args.data}: its characters ({len(vocab)}) are not the run's vocabulary ({len(kit['vocab'])}); give the text the run trained on")
    if config["dropout"] and rank == 0:
        print(json.dumps({"event": "warning", "message": f"dropout {config['dropout']}: torch draws its own masks, so steps match the engine's only in distribution"}), flush=True)
    fixed = fixed_batch(args)
    if fixed is not None and int(fixed.max()) > train - context - 1:
        raise SystemExit(f"--batch-indices: window start {int(fixed.max())} is beyond the training split's last, {train - context - 1}")
    batch = recipe["batch"] if fixed is None else len(fixed)
    share = process_share(batch, world)
    total = args.schedule_steps or recipe["steps"]
    end = total if args.steps is None else min(total, start + args.steps)
    if rank == 0 and end <= start:
        print(json.dumps({"event": "nothing to do", "step": start, "total": total, "hint": "the schedule ended; pass --schedule-steps N (more than the run's) to go on"}))
    sampler = WindowSampler(train - context, recipe["seed"])
    sampler.next(start * recipe["batch"])  # the windows of the steps the engine took

    step = start
    for step in range(start, end):
        starts = fixed.numpy() if fixed is not None else sampler.next(recipe["batch"])
        x, y = windows(tokens, starts[rank * share : (rank + 1) * share], context)
        for group in optimizer.param_groups:
            group["lr"] = nanogpt_lr(step, recipe["optimizer"]["lr"], recipe["minLr"], recipe["warmup"], total)
        optimizer.zero_grad(set_to_none=True)
        logits = trained(x.to(device))
        loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1).to(device))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), recipe["clipNorm"])
        optimizer.step()
        report_step(loss, optimizer, step, rank, world)
        step += 1

    finish(args, rank, world, device, step, lambda path: save(model, optimizer, path, "transformer", step, "adamw"))
