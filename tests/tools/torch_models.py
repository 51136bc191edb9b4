#!/usr/bin/python3
"""Models exported from PyTorch (Debian's python3-torch 1.13 and
python3-torchvision 0.14) with
torch.onnx.export, seeded random weights, no downloads; soma's outputs on
every engine compared with PyTorch's within the numerical contract.

  torch_models.py run NAME DIR SOMA   export NAME to DIR/NAME.onnx, run it
                                      with `SOMA run`, compare
  torch_models.py list                the models

PyTorch computes in float32, so its outputs differ from exact ones by a
few roundings per sum as soma's do: both are held to
|soma - torch| <= rtol * (|torch| + scale), rtol 1e-5 ('reassociating'),
scale the output's largest magnitude (docs/passes.md).
"""
import os
import subprocess
import sys
import warnings

import numpy as np
import torch
from torch import nn

RTOL = 1e-5


class Mlp(nn.Module):
    """Linear layers with each activation PyTorch exports as an op soma
    imports, or as a pattern: GELU (erf and tanh), SiLU, Hardswish,
    Hardsigmoid, Softplus(beta) (Mul, Softplus, Div)."""

    def __init__(self):
        super().__init__()
        self.acts = [nn.ReLU(), nn.LeakyReLU(0.1), nn.Sigmoid(), nn.Tanh(), nn.ELU(0.5),
                     nn.Softplus(), nn.Softplus(beta=2.0), nn.GELU(), nn.SiLU(), nn.Hardswish(), nn.Hardsigmoid(),
                     nn.SELU(), nn.Softsign(), nn.GELU(approximate="tanh")]
        self.fcs = nn.ModuleList(nn.Linear(12, 12) for _ in self.acts)
        self.head = nn.Linear(12, 5)

    def forward(self, x):
        for fc, act in zip(self.fcs, self.acts):
            x = act(fc(x))
        return torch.softmax(self.head(x), dim=-1)


class MlpLogSoftmax(nn.Module):
    """A classifier ending in log_softmax (PyTorch's usual head for NLLLoss),
    folded into its last Linear layer."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(12, 16)
        self.head = nn.Linear(16, 7)

    def forward(self, x):
        return torch.log_softmax(self.head(torch.relu(self.fc(x))), dim=-1)


class ResidualMlp(nn.Module):
    def __init__(self):
        super().__init__()
        self.inp = nn.Linear(10, 16)
        self.blocks = nn.ModuleList(nn.Sequential(nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 16))
                                    for _ in range(3))
        self.out = nn.Linear(16, 3)

    def forward(self, x):
        x = torch.relu(self.inp(x))
        for block in self.blocks:
            x = torch.relu(x + block(x))
        return self.out(x)


class Autoencoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(nn.Linear(20, 12), nn.Tanh(), nn.Linear(12, 4))
        self.dec = nn.Sequential(nn.Linear(4, 12), nn.Tanh(), nn.Linear(12, 20), nn.Sigmoid())

    def forward(self, x):
        return self.dec(self.enc(x))


class Norms(nn.Module):
    """BatchNorm1d over [N, C] and LayerNorm (exported at opset 13 as the
    9-node pattern), with Dropout (inference)."""

    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(8, 16)
        self.bn = nn.BatchNorm1d(16)
        self.ln = nn.LayerNorm(16)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(16, 4)

    def forward(self, x):
        x = torch.relu(self.bn(self.fc1(x)))
        return self.fc2(self.drop(self.ln(x)))


class SmallCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.c1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.c2 = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
        self.c3 = nn.Conv2d(8, 16, 1)
        self.prelu = nn.PReLU(16)  # a slope per channel (build() draws them)
        self.pool = nn.MaxPool2d(2)
        self.avg = nn.AvgPool2d(2, stride=1)
        self.fc = nn.Linear(16, 6)

    def forward(self, x):
        x = torch.relu(self.bn1(self.c1(x)))
        x = nn.functional.hardswish(self.c2(x))
        x = self.avg(self.pool(self.prelu(self.c3(x))))
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)
        return self.fc(x)


def resnet18():
    """torchvision's ResNet-18, architecture only (seeded random weights)."""
    import torchvision
    return torchvision.models.resnet18(weights=None)


def mobilenet_v2():
    """torchvision's MobileNetV2, architecture only (seeded random weights):
    depthwise convolutions, ReLU6 (Clip(0, 6)), residual adds."""
    import torchvision
    return torchvision.models.mobilenet_v2(weights=None)


MODELS = {
    "mlp": (Mlp, (6, 12)),
    "mlp-log-softmax": (MlpLogSoftmax, (6, 12)),
    "residual_mlp": (ResidualMlp, (5, 10)),
    "autoencoder": (Autoencoder, (4, 20)),
    "norms": (Norms, (7, 8)),
    "small_cnn": (SmallCnn, (3, 3, 16, 16)),
    "resnet18": (resnet18, (2, 3, 64, 64)),
    "mobilenet_v2": (mobilenet_v2, (2, 3, 64, 64)),
}


def build(name):
    """Model NAME in eval mode with its seeded weights (and BatchNorm and
    LayerNorm parameters a trained model would have); the same every call."""
    torch.manual_seed(5)
    model = MODELS[name][0]().eval()
    with torch.no_grad():  # statistics a trained model would have
        for m in model.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
            if isinstance(m, nn.LayerNorm):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
            if isinstance(m, nn.PReLU):  # trained slopes differ per channel
                m.weight.uniform_(-0.5, 0.5)
    return model


def export(name, out_dir):
    model = build(name)
    x = torch.randn(*MODELS[name][1])
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name + ".onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, x, path, input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}}, opset_version=13)
    with torch.no_grad():
        ref = model(x).numpy().astype(np.float64)
    np.save(os.path.join(out_dir, "x.npy"), x.numpy())
    return path, ref


def run(name, out_dir, soma):
    path, ref = export(name, out_dir)
    ok = True
    for engine in ["interp", "vec", "jit"]:
        got_path = os.path.join(out_dir, f"got-{engine}.npy")
        proc = subprocess.run([soma, "run", path, "-q", f"--engine={engine}", "--input",
                               "x=" + os.path.join(out_dir, "x.npy"), "--output", "y=" + got_path],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{name}: engine {engine}: soma failed ({proc.returncode}):\n{proc.stderr}")
            ok = False
            continue
        got = np.load(got_path).astype(np.float64)
        scale = np.abs(ref).max()
        err = np.abs(got - ref)
        good = got.shape == ref.shape and bool(np.all(err <= RTOL * (np.abs(ref) + scale)))
        ok &= good
        print(f"{name}: engine {engine}: {'ok' if good else 'MISMATCH'} "
              f"(shape {got.shape}, largest error {err.max():.3g}, scale {scale:.3g})")
    return ok


def main(argv):
    if len(argv) == 2 and argv[1] == "list":
        print("\n".join(MODELS))
        return 0
    if len(argv) == 5 and argv[1] == "run" and argv[2] in MODELS:
        return 0 if run(argv[2], argv[3], argv[4]) else 1
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
