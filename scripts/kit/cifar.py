"""CIFAR-10's binary version read as webgpu-dl reads it (a folder of data_batch_N.bin, or
cifar-10-binary.tar.gz itself), and the engine's per-channel normalisation and crop + flip
augmentation, for the ResNet half of train.py."""
import os
import tarfile

import numpy as np
import torch

SIDE = 32
RECORD = 1 + 3 * SIDE * SIDE
TRAIN_FILES = [f"data_batch_{i}.bin" for i in range(1, 6)]
ENGINE_ONLY = ("the engine reads CIFAR-10's binary version (a folder of data_batch_N.bin or cifar-10-binary.tar.gz); "
               "this kit reads the same, not image folders")


def training_files(source):
    """{name: bytes} of every data_batch_N.bin present in the folder or .tar.gz `source` (by base name, as the engine finds them)."""
    if os.path.isdir(source):
        return {name: open(os.path.join(source, name), "rb").read() for name in TRAIN_FILES if os.path.isfile(os.path.join(source, name))}
    if not os.path.isfile(source):
        raise SystemExit(f"{source}: no such file or folder; {ENGINE_ONLY}")
    try:
        with tarfile.open(source, "r:gz") as tar:
            return {os.path.basename(m.name): tar.extractfile(m).read() for m in tar.getmembers() if m.isfile() and os.path.basename(m.name) in TRAIN_FILES}
    except (tarfile.TarError, OSError) as e:
        raise SystemExit(f"{source}: not a readable .tar.gz ({e}); {ENGINE_ONLY}")


def cifar_training_set(source, limit=None):
    """Images [n, 3, 32, 32] (uint8) and labels [n] (int64): the batches in order 1…5, the first `limit` when given."""
    files = training_files(source)
    if not files:
        raise SystemExit(f"{source}: no data_batch_1.bin … data_batch_5.bin; {ENGINE_ONLY}")
    chunks = []
    for name in TRAIN_FILES:
        if name not in files:
            continue
        raw = files[name]
        if not raw or len(raw) % RECORD:
            raise SystemExit(f"{source}/{name}: {len(raw)} bytes is not a whole number of {RECORD}-byte CIFAR-10 records")
        chunks.append(np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD))
    records = np.concatenate(chunks)
    if limit is not None:
        records = records[:limit]
    images = torch.from_numpy(records[:, 1:].reshape(-1, 3, SIDE, SIDE).copy())
    return images, torch.from_numpy(records[:, 0].astype(np.int64))


def normalise(images, normalisation, device):
    """(byte / 255 − mean[c]) / std[c] in float32, the engine's gather kernel's formula."""
    mean = torch.tensor(normalisation["mean"], dtype=torch.float32, device=device).view(1, -1, 1, 1)
    std = torch.tensor(normalisation["std"], dtype=torch.float32, device=device).view(1, -1, 1, 1)
    return (images.to(device, torch.float32) / 255.0 - mean) / std


def crop_and_flip(images, crop, flip, generator):
    """torchvision's RandomCrop(32, padding=crop) and RandomHorizontalFlip on byte images: padding
    reads as byte 0, as the engine's augmentation reads outside the image. The draws are this
    kit's own (the engine draws on the GPU), with the same distribution."""
    n, _, h, w = images.shape
    if crop:
        padded = torch.nn.functional.pad(images, (crop, crop, crop, crop))
        dy = torch.randint(0, 2 * crop + 1, (n,), generator=generator)
        dx = torch.randint(0, 2 * crop + 1, (n,), generator=generator)
        images = torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
    if flip:
        mirrored = torch.rand(n, generator=generator) < 0.5
        images = torch.where(mirrored.view(n, 1, 1, 1), images.flip(3), images)
    return images
