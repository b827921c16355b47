#!/usr/bin/env python3
"""PyTorch's side of the parity suite (tests/unit/pytorch_parity.test.ts).

    /usr/bin/python3 scripts/parity.py DIR

DIR/spec.json lists cases written by the engine: each names a model family (mlp, cnn, gan_d,
gan_g, transformer with its `config`), its weights and a fixed batch (safetensors), and optimizers with their settings. For
each case this loads the same weights into the torch.nn equivalents of scripts/torch_models.py,
computes the loss and its gradients on the batch, then runs each optimizer from the same weights
for the given number of steps on that batch, and writes DIR/<case>.result.safetensors:
`loss` [1], `grad.<param>`, and `<optimizer>.<step>.<param>` (the parameters after that step).
Everything is float32, as the engine computes. Prints one JSON line naming torch's version.
"""
import json
import os
import struct
import sys

import numpy as np
import torch
from torch import nn

from check_pytorch import load_safetensors
from torch_models import CharTransformer, cnn, gan_discriminator, gan_generator, mlp


def save_safetensors(path, tensors):
    header, offset, chunks = {}, 0, []
    for name, tensor in tensors.items():
        data = tensor.detach().to(torch.float32).contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        chunks.append(data)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def hidden_of(state, first):
    """Hidden widths of a Linear chain whose layers sit at every other index from `first`."""
    widths, i = [], first
    while f"{i}.weight" in state:
        widths.append(state[f"{i}.weight"].shape[0])
        i += 2
    return widths[:-1]


def build(case, folder):
    """The module whose parameters train, the loss on the batch as a function, and the initial weights."""
    weights = load_safetensors(os.path.join(folder, case["weights"]))
    batch = load_safetensors(os.path.join(folder, case["batch"]))
    family = case["model"]
    bce = nn.BCEWithLogitsLoss()
    if family in ("mlp", "cnn"):
        model = mlp(hidden_of(weights, 1)) if family == "mlp" else cnn()
        labels = batch["labels"].long()
        loss = lambda: nn.functional.cross_entropy(model(batch["x"]), labels)
    elif family == "gan_d":
        model = gan_discriminator()
        real, fake = batch["real"], batch["fake"]
        loss = lambda: bce(model(real), torch.ones(len(real), 1)) + bce(model(fake), torch.zeros(len(fake), 1))
    elif family == "gan_g":
        model = gan_generator()
        discriminator = gan_discriminator()
        discriminator.load_state_dict(load_safetensors(os.path.join(folder, case["discriminator"])), strict=True)
        discriminator.requires_grad_(False)
        z = batch["z"]
        loss = lambda: bce(discriminator(model(z)), torch.ones(len(z), 1))
    elif family == "transformer":
        model = CharTransformer.from_config(case["config"])
        x, labels = batch["x"].long(), batch["labels"].long()
        loss = lambda: nn.functional.cross_entropy(model(x).reshape(-1, case["config"]["vocab"]), labels.reshape(-1))
    else:
        raise SystemExit(f"parity: unknown model family {family!r}")
    model.load_state_dict(weights, strict=True)
    return model, loss, weights


def optimizer_for(spec, params):
    if spec["kind"] == "adam":
        return torch.optim.Adam(params, lr=spec["lr"], betas=(spec["beta1"], spec["beta2"]), eps=spec["eps"], weight_decay=spec["weightDecay"])
    if spec["kind"] == "adamw":
        return torch.optim.AdamW(params, lr=spec["lr"], betas=(spec["beta1"], spec["beta2"]), eps=spec["eps"], weight_decay=spec["weightDecay"])
    if spec["kind"] == "sgd":
        return torch.optim.SGD(params, lr=spec["lr"], momentum=spec["momentum"], dampening=spec["dampening"], nesterov=spec["nesterov"], weight_decay=spec["weightDecay"])
    raise SystemExit(f"parity: unknown optimizer {spec['kind']!r}")


def run_case(case, folder):
    model, loss_fn, weights = build(case, folder)
    out = {}
    loss = loss_fn()
    loss.backward()
    out["loss"] = loss.detach().reshape(1)
    for name, p in model.named_parameters():
        out[f"grad.{name}"] = p.grad
    for spec in case["optimizers"]:
        model.load_state_dict(weights, strict=True)
        model.zero_grad(set_to_none=True)
        optimizer = optimizer_for(spec, model.parameters())
        for step in range(1, spec["steps"] + 1):
            optimizer.zero_grad(set_to_none=True)
            loss_fn().backward()
            optimizer.step()
            for name, p in model.named_parameters():
                out[f"{spec['name']}.{step}.{name}"] = p.detach().clone()
    save_safetensors(os.path.join(folder, f"{case['name']}.result.safetensors"), out)


def main():
    if len(sys.argv) != 2:
        raise SystemExit("usage: parity.py DIR (a folder with spec.json)")
    folder = sys.argv[1]
    torch.manual_seed(0)
    torch.set_num_threads(1)
    with open(os.path.join(folder, "spec.json")) as f:
        spec = json.load(f)
    for case in spec["cases"]:
        run_case(case, folder)
    print(json.dumps({"torch": torch.__version__, "numpy": np.__version__, "cases": [c["name"] for c in spec["cases"]]}))


if __name__ == "__main__":
    main()
