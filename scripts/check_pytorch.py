#!/usr/bin/env python3
"""Loads a webgpu-dl checkpoint into the equivalent torch.nn module and measures its test accuracy.

    python3 scripts/check_pytorch.py mlp weights.safetensors [--hidden 256,256]
    python3 scripts/check_pytorch.py cnn weights.safetensors
    python3 scripts/check_pytorch.py resnet resnet.safetensors --data CIFAR_DIR   # from train --model resnet --out
    python3 scripts/check_pytorch.py mlp small.safetensors     # from webgpu-dl compress --quantize
    python3 scripts/check_pytorch.py mlp w.safetensors --optimizer w.optimizer.safetensors

With --optimizer, the Adam state that `train --out` writes beside the weights is loaded into a
torch.optim.Adam over the same module (exp_avg, exp_avg_sq and step of every parameter), ready to
resume training. A ResNet file is rebuilt from the configuration its metadata records (depth,
width, classes, per-channel normalisation) and evaluated on the folder's test_batch.bin. The
two files must come from the same checkpoint: where both carry a run_id and
step in their metadata, these must agree, or the script stops naming both.

Needs PyTorch and NumPy (Debian: apt-get install python3-torch). The safetensors file is read with
the standard library only, so the `safetensors` package is not needed; with it installed,
`safetensors.torch.load_file` gives the same state_dict.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from torch import nn

from torch_models import DEFAULT_MNIST_DIR, ResNet, cifar_splits, model_for, read_idx

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "kit"))
from checkpoint_io import load_safetensors as read_safetensors  # noqa: E402  (the kit's reader, checked within limits)


def load_safetensors(path, with_metadata=False):
    """The state_dict of a safetensors file (int8 weights dequantised), or (raw tensors, metadata)."""
    state, metadata = read_safetensors(path)
    return (state, metadata) if with_metadata else dequantize(state)


def check_pair(weights_path, weights_metadata, optimizer_path, optimizer_metadata):
    """Refuses optimizer state saved by another run or at another step than the weights."""
    for key in ("run_id", "step"):
        mine, theirs = weights_metadata.get(key), optimizer_metadata.get(key)
        if mine is not None and theirs is not None and mine != theirs:
            raise SystemExit(
                f"{optimizer_path} (run_id {optimizer_metadata.get('run_id')}, step {optimizer_metadata.get('step')}) "
                f"was not saved with {weights_path} (run_id {weights_metadata.get('run_id')}, step {weights_metadata.get('step')}); "
                "give the weights and optimizer files that one checkpoint wrote together"
            )


def dequantize(state):
    """int8 weights from `webgpu-dl compress --quantize`: w = q * scale per output channel."""
    out = {}
    for name, tensor in state.items():
        if name.endswith("_scale") and name[: -len("_scale")] in state:
            continue
        scale = state.get(name + "_scale")
        if tensor.dtype == torch.int8 and scale is not None:
            tensor = tensor.float() * scale.view(-1, *[1] * (tensor.dim() - 1))
        out[name] = tensor
    return out


def load_adam(model, path):
    """A torch.optim.Adam over `model` holding the state webgpu-dl saved; fails on any mismatch."""
    tensors, metadata = load_safetensors(path, with_metadata=True)
    if metadata.get("optimizer") != "adam":
        raise SystemExit(f"{path}: holds {metadata.get('optimizer')} state, not adam")
    optimizer = torch.optim.Adam(model.parameters())
    saved = optimizer.state_dict()
    expected = set()
    for index, (name, param) in enumerate(model.named_parameters()):
        entry = {"step": torch.tensor(float(metadata["step"]))}
        for key in ("exp_avg", "exp_avg_sq"):
            expected.add(f"{name}.{key}")
            entry[key] = tensors[f"{name}.{key}"]
            if entry[key].shape != param.shape:
                raise SystemExit(f"{path}: {name}.{key} is {list(entry[key].shape)}, the parameter {list(param.shape)}")
        saved["state"][index] = entry
    if set(tensors) != expected:
        raise SystemExit(f"{path}: unexpected tensors {sorted(set(tensors) - expected)}")
    optimizer.load_state_dict(saved)
    return optimizer, int(metadata["step"])


def mnist_test(data):
    images = torch.from_numpy(read_idx(os.path.join(data, "t10k-images-idx3-ubyte")).astype(np.float32) / 255.0)
    labels = torch.from_numpy(read_idx(os.path.join(data, "t10k-labels-idx1-ubyte")).astype(np.int64))
    return images.unsqueeze(1), labels


def resnet_from(path, metadata):
    """The ResNet a CLI checkpoint's `config` metadata describes, and its input normalisation."""
    if "config" not in metadata:
        raise SystemExit(f"{path}: no 'config' in its metadata; a ResNet checkpoint from `webgpu-dl train --model resnet --out` records one")
    config = json.loads(metadata["config"])
    model = ResNet(config["depth"], config["width"], config["classes"], config.get("channels", 3))
    n = config.get("normalisation", {"mean": [0.0] * config.get("channels", 3), "std": [1.0] * config.get("channels", 3)})
    return model, torch.tensor(n["mean"], dtype=torch.float32).view(1, -1, 1, 1), torch.tensor(n["std"], dtype=torch.float32).view(1, -1, 1, 1)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("model", choices=["mlp", "cnn", "resnet"])
    parser.add_argument("weights")
    parser.add_argument("--hidden", default="256,256")
    parser.add_argument("--optimizer", help="Adam state written by `train --out` (FILE.optimizer.safetensors; mlp and cnn)")
    parser.add_argument("--data", help=f"IDX folder for mlp and cnn (default {DEFAULT_MNIST_DIR}); CIFAR-10 binary folder for resnet")
    args = parser.parse_args()
    weights, weights_metadata = load_safetensors(args.weights, with_metadata=True)
    if args.model == "resnet":
        if args.optimizer or not args.data:
            raise SystemExit("resnet: give --data (the CIFAR-10 binary folder the run used); --optimizer reads Adam state, and the ResNet trains with SGD")
        model, mean, std = resnet_from(args.weights, weights_metadata)
        _, _, test_x, test_y = cifar_splits(args.data)
        images, labels = (torch.from_numpy(test_x).float() / 255 - mean) / std, torch.from_numpy(test_y).long()
    else:
        model = model_for(args.model, [int(h) for h in args.hidden.split(",")])
        images, labels = mnist_test(args.data or DEFAULT_MNIST_DIR)
    if args.optimizer:
        check_pair(args.weights, weights_metadata, args.optimizer, load_safetensors(args.optimizer, with_metadata=True)[1])
    model.load_state_dict(dequantize(weights), strict=True)
    model.eval()
    result = {"model": args.model}
    if args.optimizer:
        optimizer, step = load_adam(model, args.optimizer)
        result["optimizerStep"] = step
        result["optimizerTensors"] = sum(len(s) - 1 for s in optimizer.state_dict()["state"].values())
    with torch.no_grad():
        logits = torch.cat([model(images[i : i + 500]) for i in range(0, len(images), 500)])
    accuracy = (logits.argmax(1) == labels).float().mean().item()
    loss = nn.functional.cross_entropy(logits, labels).item()
    print(json.dumps({**result, "testAccuracy": accuracy, "testLoss": loss, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
