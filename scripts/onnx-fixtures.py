#!/usr/bin/python3
"""ONNX fixtures for fisens' ONNX import, with float64 PyTorch reference values, and one real model.

Run through scripts/onnx-fixtures.sh (it installs Debian's python3-torch, python3-torchvision and
python3-onnx and finds the MNIST files of the GoMNIST Go module). Writes into --out:

  ops-*.onnx, resnet-*.onnx, densenet-*.onnx, vgg-*.onnx, alexnet-*.onnx, nhwc-*.onnx
      small networks with seeded random weights (batch norm running statistics randomised too)
      covering the CNN operator set of issue 11; exported by torch.onnx at opset 13 with a dynamic
      batch axis, batch norm kept as BatchNormalization nodes (TrainingMode.PRESERVE in eval mode).
  references.json
      for each fixture: its preprocessing (the Go side feeds raw 0-255 NHWC pixels x; the network
      sees ((x * scale) - mean[c]) / std[c] in its own layout), and for a few seeded inputs the
      PyTorch float64 values (the float32 weights cast to float64): log-probabilities, the K x K
      Gram matrix of the input Jacobian of the log-probabilities, its row for the label, FI with
      the true label, its rank, the odds bound, both Jacobian norms, and for one layer of each kind
      (conv, bn, dense) the same quantities for perturbing that layer's parameters.
  mnist-cnn.onnx (+ mnist-cnn.onnx.json, the fisens sidecar)
      a small CNN trained here on the MNIST training files (60,000 images) and exported to ONNX;
      it ends in log_softmax as PyTorch's MNIST example does.

FI is computed as in SPEC A.2: with J the Jacobian of the logits z (any row shift of z, such as
log-probabilities, gives the same Q), Q = D (I - 1 pi^T) J J^T (I - pi 1^T) D, D = diag(sqrt(pi)),
FI = [Q^+ Q]_yy / pi_y, with eigenvalues below 1e-10 * lambda_max dropped.
"""
import argparse
import gzip
import hashlib
import json
import os
import struct
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from onnx import helper, numpy_helper, TensorProto

torch.set_num_threads(2)
OPSET = 13
K = 10


# --------------------------------------------------------------------------------------------
# Networks


class OpsNet(nn.Module):
    """Covers Conv (stride, padding, dilation, groups), BatchNormalization, Relu, LeakyRelu, Tanh,
    Concat, Mul/Add with parameters, MaxPool, Pad, Clip, AveragePool (padding counted), Sigmoid,
    Flatten, Gemm, MatMul; the output kind (logits / log_softmax / softmax) is chosen by `head`."""

    def __init__(self, cin, head="logits"):
        super().__init__()
        self.head = head
        self.conv1 = nn.Conv2d(cin, 4, 3, stride=2, padding=1)
        self.bn1 = nn.BatchNorm2d(4)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=2)
        self.conv3 = nn.Conv2d(4, 4, 1)
        self.scale = nn.Parameter(torch.rand(1, 8, 1, 1) + 0.5)
        self.shift = nn.Parameter(torch.randn(1, 8, 1, 1) * 0.1)
        self.conv4 = nn.Conv2d(8, 6, 3)
        self.fc1 = nn.Linear(6 * 4 * 4, 16)
        self.w2 = nn.Parameter(torch.randn(16, K) * 0.3)

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        a = F.leaky_relu(self.conv2(x), 0.1)
        b = torch.tanh(self.conv3(x))
        x = torch.cat([a, b], dim=1) * self.scale + self.shift
        x = F.max_pool2d(x, 2)
        x = F.pad(x, (1, 1, 1, 1))
        x = torch.clamp(self.conv4(x), -2.0, 2.0)
        x = F.avg_pool2d(x, 3, stride=2, padding=1)  # count_include_pad=True
        x = torch.sigmoid(x)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        z = x @ self.w2
        if self.head == "logsoftmax":
            return F.log_softmax(z, dim=1)
        if self.head == "softmax":
            return F.softmax(z, dim=1)
        return z


class NHWCNet(nn.Module):
    """A network whose input is NHWC (as a Keras/TF export would be): permute, then conv."""

    def __init__(self, cin):
        super().__init__()
        self.conv = nn.Conv2d(cin, 6, 3, padding=1)
        self.fc = nn.Linear(6 * 4 * 4, K)

    def forward(self, x):
        x = x.permute(0, 3, 1, 2)
        x = F.relu(self.conv(x))
        x = F.adaptive_avg_pool2d(x, (4, 4)) if x.shape[-1] % 4 == 0 else x
        x = x.reshape(x.shape[0], -1)
        return self.fc(x)


def resnet_small(cin):
    from torchvision.models.resnet import ResNet, BasicBlock
    m = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=K)
    m.inplanes = 8
    m.conv1 = nn.Conv2d(cin, 8, 3, stride=1, padding=1, bias=False)
    m.bn1 = nn.BatchNorm2d(8)
    m.layer1 = m._make_layer(BasicBlock, 8, 1)
    m.layer2 = m._make_layer(BasicBlock, 12, 1, stride=2)
    m.layer3 = m._make_layer(BasicBlock, 16, 1, stride=2)
    m.layer4 = m._make_layer(BasicBlock, 16, 1, stride=1)
    m.fc = nn.Linear(16, K)
    return m


def densenet_small(cin):
    m = torchvision.models.DenseNet(growth_rate=4, block_config=(2, 2), num_init_features=8, bn_size=2, num_classes=K)
    m.features.conv0 = nn.Conv2d(cin, 8, 3, stride=1, padding=1, bias=False)
    return m


def vgg_small(cin):
    from torchvision.models.vgg import VGG, make_layers
    features = make_layers([8, "M", 12, "M", 16, 16, "M"], batch_norm=True)
    features[0] = nn.Conv2d(cin, 8, 3, padding=1)
    m = VGG(features, num_classes=K, init_weights=True)
    m.avgpool = nn.AdaptiveAvgPool2d((1, 1))
    m.classifier = nn.Sequential(nn.Linear(16, 24), nn.ReLU(True), nn.Dropout(), nn.Linear(24, 24), nn.ReLU(True),
                                 nn.Dropout(), nn.Linear(24, K))
    return m


def alexnet_small(cin):
    m = torchvision.models.AlexNet(num_classes=K)
    m.features = nn.Sequential(
        nn.Conv2d(cin, 8, 5, stride=2, padding=2), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2),
        nn.Conv2d(8, 12, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(12, 16, 3, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(3, 2))
    m.avgpool = nn.AdaptiveAvgPool2d((1, 1))
    m.classifier = nn.Sequential(nn.Dropout(), nn.Linear(16, 32), nn.ReLU(inplace=True), nn.Dropout(),
                                 nn.Linear(32, 32), nn.ReLU(inplace=True), nn.Linear(32, K))
    return m


class MnistCNN(nn.Module):
    """The real model: a small CNN in the style of PyTorch's MNIST example."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.drop = nn.Dropout(0.25)
        self.fc2 = nn.Linear(64, K)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.bn2(self.conv2(x))), 2)
        x = torch.flatten(x, 1)
        x = self.drop(F.relu(self.fc1(x)))
        return F.log_softmax(self.fc2(x), dim=1)


# --------------------------------------------------------------------------------------------
# Export


def randomise_bn(m, gen):
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            c = mod.num_features
            with torch.no_grad():
                mod.running_mean.copy_(torch.randn(c, generator=gen) * 0.2)
                mod.running_var.copy_(torch.rand(c, generator=gen) * 0.8 + 0.6)
                mod.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                mod.bias.copy_(torch.randn(c, generator=gen) * 0.2)


def export(m, shape_nchw, path, nhwc=False):
    n, c, h, w = shape_nchw
    dummy = torch.zeros(1, h, w, c) if nhwc else torch.zeros(1, c, h, w)
    m.eval()
    torch.onnx.export(m, dummy, path, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=OPSET,
                      training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=True)


def insert_dropout(path):
    """torch exports no Dropout node in eval mode; insert one (ratio 0.5, inference: identity) after
    the first Relu so that the fixture covers the operator."""
    model = onnx.load(path)
    g = model.graph
    for i, node in enumerate(g.node):
        if node.op_type == "Relu":
            old = node.output[0]
            node.output[0] = old + "_predrop"
            ratio = numpy_helper.from_array(np.array(0.5, dtype=np.float32), name="dropout_ratio")
            g.initializer.append(ratio)
            g.node.insert(i + 1, helper.make_node("Dropout", [old + "_predrop", "dropout_ratio"], [old], name="Dropout_inserted"))
            break
    onnx.checker.check_model(model)
    onnx.save(model, path)


# --------------------------------------------------------------------------------------------
# References (float64)


def preprocess(x_raw, pre, nhwc):
    """x_raw: [1, H, W, C] raw pixels (float64). Returns the network's input."""
    x = x_raw * pre["scale"]
    mean = torch.tensor(pre["mean"], dtype=torch.float64)
    std = torch.tensor(pre["std"], dtype=torch.float64)
    x = (x - mean) / std
    return x if nhwc else x.permute(0, 3, 1, 2)


def log_probs(out, kind):
    if kind == "probabilities":
        return torch.log(out)
    return torch.log_softmax(out, dim=1)  # logits, or log-probabilities (idempotent)


def fi_from_gram(M, logp, y, reltol=1e-10):
    """FI of log pi_y from the Gram matrix M = J J^T of the logit (or log-prob) Jacobian."""
    pi = np.exp(logp)
    Kc = len(pi)
    C = np.eye(Kc) - np.outer(np.ones(Kc), pi)
    D = np.diag(np.sqrt(pi))
    Q = D @ C @ M @ C.T @ D
    w, V = np.linalg.eigh(Q)
    keep = w > reltol * max(w.max(), 0)
    r = int(keep.sum())
    P = V[:, keep] @ V[:, keep].T  # Q^+ Q
    return float(P[y, y] / pi[y]), r


def measures(J, logp, y):
    """J: K x p Jacobian of log-probabilities. Returns the reference dict."""
    pi = np.exp(logp)
    M = J @ J.T
    fi, r = fi_from_gram(M, logp, y)
    # d pi / d omega = diag(pi) J_logp
    Js = pi[:, None] * J
    return {"gram": M.tolist(), "fi": fi, "rank": r, "bound": float((1 - pi[y]) / pi[y]),
            "jacnorm": float(np.linalg.norm(J[y])), "softmax_jacnorm": float(np.linalg.norm(Js))}


def references(m, pre, nhwc, kind, shape_hwc, layers, n_inputs, seed):
    m64 = m.double().eval()
    gen = torch.Generator().manual_seed(seed)
    h, w, c = shape_hwc
    out = []
    for i in range(n_inputs):
        x = (torch.rand(1, h, w, c, generator=gen, dtype=torch.float64) * 255.0).requires_grad_(True)
        y = (3 * i + seed) % K
        logp = log_probs(m64(preprocess(x, pre, nhwc)), kind)[0]
        J = np.stack([torch.autograd.grad(logp[k], x, retain_graph=True)[0].reshape(-1).numpy() for k in range(K)])
        lp = logp.detach().numpy()
        ex = {"x": [round(float(v), 6) for v in x.detach().reshape(-1).numpy()], "label": y,
              "logp": lp.tolist(), "pred": int(lp.argmax())}
        ex.update(measures(J, lp, y))
        if i == 0:
            ex["jac_row_label"] = J[y].tolist()
        # Parameter perturbations of one layer of each kind.
        params = dict(m64.named_parameters())
        ex["layers"] = {}
        for kind_name, names in layers.items():
            ps = [params[n] for n in names]
            rows = []
            for k in range(K):
                g = torch.autograd.grad(logp[k], ps, retain_graph=True)
                rows.append(np.concatenate([t.reshape(-1).numpy() for t in g]))
            Jp = np.stack(rows)
            lm = measures(Jp, lp, y)
            lm["initializers"] = names
            lm["params"] = int(Jp.shape[1])
            ex["layers"][kind_name] = lm
        out.append(ex)
    m.float()
    return out


def pick_layers(m, onnx_path):
    """One layer of each kind, named by its parameters (as they appear among the ONNX initializers)."""
    inits = {t.name for t in onnx.load(onnx_path).graph.initializer}
    conv = bn = dense = None
    for name, mod in m.named_modules():
        if isinstance(mod, nn.Conv2d) and conv is None:
            conv = name
        if isinstance(mod, nn.BatchNorm2d) and bn is None:
            bn = name
        if isinstance(mod, nn.Linear) and dense is None:
            dense = name
    out = {}
    for kind, mod in (("conv", conv), ("bn", bn), ("dense", dense)):
        if mod is None:
            continue
        names = [mod + ".weight"] + ([mod + ".bias"] if dict(m.named_parameters()).get(mod + ".bias") is not None else [])
        if all(n in inits for n in names):
            out[kind] = names
        else:
            print(f"  note: {mod} parameters {names} not all among the ONNX initializers; skipped", file=sys.stderr)
    return out


def onnx_ops(path):
    return sorted({n.op_type for n in onnx.load(path).graph.node})


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# --------------------------------------------------------------------------------------------
# MNIST


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic, = struct.unpack(">I", data[:4])
    ndim = magic & 0xFF
    dims = struct.unpack(">" + "I" * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def train_mnist(mnist_dir, out, epochs, seed):
    xs = read_idx(os.path.join(mnist_dir, "train-images-idx3-ubyte.gz"))
    ys = read_idx(os.path.join(mnist_dir, "train-labels-idx1-ubyte.gz"))
    xt = read_idx(os.path.join(mnist_dir, "t10k-images-idx3-ubyte.gz"))
    yt = read_idx(os.path.join(mnist_dir, "t10k-labels-idx1-ubyte.gz"))
    mean, std = 0.1307, 0.3081
    prep = lambda a: ((torch.from_numpy(a.astype(np.float32)) / 255.0 - mean) / std).unsqueeze(1)
    X, Y, XT, YT = prep(xs), torch.from_numpy(ys.astype(np.int64)), prep(xt), torch.from_numpy(yt.astype(np.int64))
    torch.manual_seed(seed)
    m = MnistCNN().to(memory_format=torch.channels_last)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3)
    t0 = time.time()
    for ep in range(epochs):
        m.train()
        perm = torch.randperm(len(X))
        for lo in range(0, len(X), 128):
            idx = perm[lo:lo + 128]
            opt.zero_grad()
            loss = F.nll_loss(m(X[idx].contiguous(memory_format=torch.channels_last)), Y[idx])
            loss.backward()
            opt.step()
        m.eval()
        with torch.no_grad():
            acc = sum((m(XT[i:i + 1000]).argmax(1) == YT[i:i + 1000]).sum().item() for i in range(0, len(XT), 1000)) / len(XT)
        print(f"  mnist-cnn epoch {ep + 1}/{epochs}: test accuracy {acc:.4f} ({time.time() - t0:.0f} s)", file=sys.stderr)
    m = m.to(memory_format=torch.contiguous_format)
    m.eval()
    with torch.no_grad():
        logp = torch.cat([m(XT[i:i + 1000]) for i in range(0, len(XT), 1000)])
    acc = (logp.argmax(1) == YT).float().mean().item()
    path = os.path.join(out, "mnist-cnn.onnx")
    export(m, (1, 1, 28, 28), path)
    side = {
        "format": 1,
        "dataset": "mnist",
        "layout": "NCHW",
        "scale": 1 / 255,
        "mean": [mean],
        "std": [std],
        "output": "log-probabilities",
        "class_names": [str(i) for i in range(10)],
        "note": f"trained by scripts/onnx-fixtures.py with PyTorch {torch.__version__}: Adam 1e-3, batch 128, "
                f"{epochs} epochs on the 60,000 MNIST training images (seed {seed}), inputs x/255 normalised "
                f"with mean {mean} and std {std}",
        "pytorch_test_accuracy": acc,
        "pytorch_test_logp_first": logp[:5].tolist(),
        "train_seconds": round(time.time() - t0, 1),
    }
    with open(path + ".json", "w") as f:
        json.dump(side, f, indent=2)
        f.write("\n")
    print(f"mnist-cnn: PyTorch test accuracy {acc:.4f} on 10,000 images → {path}", file=sys.stderr)
    return acc


# --------------------------------------------------------------------------------------------
# Bad inputs: each must be refused with an error naming the file and what was expected.


def bad_fixtures(out):
    bad = os.path.join(out, "bad")
    os.makedirs(bad, exist_ok=True)
    # Not a classifier: the output is a feature map.
    m = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU())
    export(m, (1, 1, 28, 28), os.path.join(bad, "not-classifier.onnx"))
    # An operator onnx-gomlx cannot convert (Hardmax) and one it converts but fisens does not verify (Exp).
    for name, op in (("unknown-op", "Hardmax"), ("unverified-op", "Exp")):
        x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 1, 8, 8])
        y = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 10])
        w = numpy_helper.from_array(np.random.RandomState(0).randn(64, 10).astype(np.float32), name="fc.weight")
        shape = numpy_helper.from_array(np.array([-1, 64], dtype=np.int64), name="shape")
        nodes = [helper.make_node("Reshape", ["input", "shape"], ["flat"], name="flatten"),
                 helper.make_node("MatMul", ["flat", "fc.weight"], ["z"], name="fc"),
                 helper.make_node(op, ["z"], ["output"], name="odd_node")]
        g = helper.make_graph(nodes, name, [x], [y], [w, shape])
        model = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)])
        onnx.checker.check_model(model)
        onnx.save(model, os.path.join(bad, name + ".onnx"))
    # A NaN in the weights.
    model = onnx.load(os.path.join(out, "alexnet-1x28.onnx"))
    for t in model.graph.initializer:
        if t.name == "features.3.weight":
            a = numpy_helper.to_array(t).copy()
            a.flat[5] = np.nan
            t.CopyFrom(numpy_helper.from_array(a, name=t.name))
    onnx.save(model, os.path.join(bad, "nan-weight.onnx"))
    print(f"bad fixtures → {bad}", file=sys.stderr)


# --------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--mnist", required=True)
    ap.add_argument("--no-train", action="store_true")
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--bad-only", action="store_true", help="only the bad-input fixtures")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    if args.bad_only:
        bad_fixtures(args.out)
        return

    fixtures = []
    for cin, hw in ((1, 28), (3, 32)):
        tag = f"{cin}x{hw}"
        fixtures += [
            (f"ops-{tag}", lambda c=cin: OpsNet(c), "logits", False),
            (f"resnet-{tag}", lambda c=cin: resnet_small(c), "logits", False),
            (f"densenet-{tag}", lambda c=cin: densenet_small(c), "logits", False),
            (f"vgg-{tag}", lambda c=cin: vgg_small(c), "logits", False),
            (f"alexnet-{tag}", lambda c=cin: alexnet_small(c), "logits", False),
        ]
    fixtures += [
        ("ops-logsoftmax-1x28", lambda: OpsNet(1, "logsoftmax"), "log-probabilities", False),
        ("ops-softmax-3x32", lambda: OpsNet(3, "softmax"), "probabilities", False),
        ("nhwc-3x32", lambda: NHWCNet(3), "logits", True),
    ]
    refs = {"generator": f"scripts/onnx-fixtures.py, PyTorch {torch.__version__}, torchvision {torchvision.__version__}, "
                         f"onnx {onnx.__version__}, opset {OPSET}", "fixtures": {}}
    for i, (name, make, kind, nhwc) in enumerate(fixtures):
        torch.manual_seed(1000 + i)
        gen = torch.Generator().manual_seed(2000 + i)
        m = make()
        randomise_bn(m, gen)
        m.eval()
        cin = 1 if "1x28" in name else 3
        hw = 28 if "1x28" in name else 32
        path = os.path.join(args.out, name + ".onnx")
        export(m, (1, cin, hw, hw), path, nhwc=nhwc)
        if name.startswith("ops-1x28"):
            insert_dropout(path)
        # Preprocessing: pixels / 255, and per-channel normalisation for the 3-channel fixtures.
        pre = {"scale": 1 / 255, "mean": [0.0] * cin, "std": [1.0] * cin}
        if cin == 3:
            pre = {"scale": 1 / 255, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
        layers = pick_layers(m, path)
        ex = references(m, pre, nhwc, kind, (hw, hw, cin), layers, 3, 17 + i)
        refs["fixtures"][name] = {"file": name + ".onnx", "sha256": sha256(path), "layout": "NHWC" if nhwc else "NCHW",
                                  "height": hw, "width": hw, "channels": cin, "classes": K, "output": kind,
                                  "preprocessing": pre, "ops": onnx_ops(path),
                                  "params": int(sum(p.numel() for p in m.parameters())), "examples": ex}
        print(f"{name}: {os.path.getsize(path)} bytes, ops {' '.join(onnx_ops(path))}", file=sys.stderr)
    with open(os.path.join(args.out, "references.json"), "w") as f:
        json.dump(refs, f)
        f.write("\n")
    bad_fixtures(args.out)
    if not args.no_train:
        train_mnist(args.mnist, args.out, args.epochs, seed=1)


if __name__ == "__main__":
    main()
