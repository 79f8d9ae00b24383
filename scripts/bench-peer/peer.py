#!/usr/bin/python3
"""The PyTorch peer of fisens' benchmark (scripts/bench-peer/run.sh; docs/performance.md).

The zoo's resnet-small-mnist weights are loaded from fisens' checkpoint into a PyTorch replica of
models/resnet.go (NCHW, channels-last memory), and the workloads of the Go driver
(scripts/bench-peer/main.go) are timed on the inputs it exported: whole-image FI of 128 test images,
one backward pass of a batch of 32, an Adam training step of batch 128, per-layer parameter FI
(27 layers' K x K Grams) and multi-scale patch maps (k = 1, 3, 5, 7).

Tuned as PyTorch's performance guide says (run.sh sets the environment): GLIBC_TUNABLES with a
non-trimming malloc, OPENBLAS_NUM_THREADS=1, torch.set_num_threads(2), channels-last tensors.

    /usr/bin/python3 peer.py --dir DIR [--reps 3] [--check]   (DIR from `main --export`)

Prints one JSON line per timed repetition: {"side": "pytorch", "workload", "images", "seconds"}.
--check compares its FI with fisens' DIR/fi.csv and its per-layer FI with DIR/params.csv.
"""
import argparse, glob, json, math, os, sys, time

import torch
import torch.nn.functional as F

K = 10


def load_checkpoint(zoo_dir):
    js = sorted(glob.glob(os.path.join(zoo_dir, "checkpoint-*.json")))[-1]
    meta = json.load(open(js))
    raw = open(js[:-5] + ".bin", "rb").read()
    header = b"gomlx_checkpointss\x04gzip"  # models/checkpoint.go: gzip-compressed data after it
    if raw.startswith(header):
        import gzip
        raw = gzip.decompress(raw[len(header):])
    out = {}
    for v in meta["Variables"]:
        if v["DType"] != "Float32":  # /global_step
            continue
        t = torch.frombuffer(bytearray(raw[v["Pos"]:v["Pos"] + v["Length"]]), dtype=torch.float32)
        out[v["ParameterName"][len("var:"):]] = t.reshape(v["Dimensions"]).clone()
    return out


class Conv(torch.nn.Module):
    """ops.Conv2D: kernel [k,k,Cin,Cout] -> torch [Cout,Cin,k,k]; TF 'same' padding at stride 2."""

    def __init__(self, w, b, stride, same):
        super().__init__()
        self.weight = torch.nn.Parameter(w.permute(3, 2, 0, 1).contiguous())
        self.bias = torch.nn.Parameter(b.clone())
        self.k, self.stride, self.same = w.shape[0], stride, same

    def forward(self, x):
        k, s = self.k, self.stride
        if self.same and k > 1:
            n = x.shape[-1]
            out = (n + s - 1) // s
            total = max(0, (out - 1) * s + k - n)  # TensorFlow: pad total//2 before, the rest after
            x = F.pad(x, (total // 2, total - total // 2, total // 2, total - total // 2))
        return F.conv2d(x, self.weight, self.bias, stride=s)


def bn(vars, scope, c):
    m = torch.nn.BatchNorm2d(c, eps=1e-3, momentum=0.01)  # Keras: 0.99 moving average, eps 1e-3
    with torch.no_grad():
        m.weight.copy_(vars[scope + "/gamma"]); m.bias.copy_(vars[scope + "/beta"])
        m.running_mean.copy_(vars[scope + "/mean"]); m.running_var.copy_(vars[scope + "/variance"])
    return m


class Block(torch.nn.Module):
    def __init__(self, v, s, cin, f, stride, project):
        super().__init__()
        self.conv1 = Conv(v[s + "/conv1/weights"], v[s + "/conv1/biases"], stride, False)
        self.bn1 = bn(v, s + "/bn1", f[0])
        self.conv2 = Conv(v[s + "/conv2/weights"], v[s + "/conv2/biases"], 1, True)
        self.bn2 = bn(v, s + "/bn2", f[1])
        self.conv3 = Conv(v[s + "/conv3/weights"], v[s + "/conv3/biases"], 1, False)
        self.bn3 = bn(v, s + "/bn3", f[2])
        self.project = project
        if project:
            self.conv_shortcut = Conv(v[s + "/conv_shortcut/weights"], v[s + "/conv_shortcut/biases"], stride, False)
            self.bn_shortcut = bn(v, s + "/bn_shortcut", f[2])

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = F.relu(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(y))
        sc = self.bn_shortcut(self.conv_shortcut(x)) if self.project else x
        return F.relu(y + sc)


class ResNetSmall(torch.nn.Module):
    """models.ResNetSmallSpec: stem 3x3/2 (32), stages (32,32,128)/1, (64,64,256)/2, (128,128,512)/2."""

    def __init__(self, v):
        super().__init__()
        self.stem_conv = Conv(v["/stem/conv/weights"], v["/stem/conv/biases"], 2, True)
        self.stem_bn = bn(v, "/stem/bn", 32)
        cin, blocks = 32, []
        for st, (f, stride) in enumerate(zip([(32, 32, 128), (64, 64, 256), (128, 128, 512)], [1, 2, 2])):
            blocks.append(Block(v, "/stage%d/block1" % (st + 2), cin, f, stride, True))
            cin = f[2]
        self.blocks = torch.nn.Sequential(*blocks)
        self.dense_w = torch.nn.Parameter(v["/dense/weights"].clone())  # [2048, 10], input in HWC order
        self.dense_b = torch.nn.Parameter(v["/dense/biases"].clone())

    def forward(self, x):
        x = F.relu(self.stem_bn(self.stem_conv(x)))
        x = self.blocks(x)
        x = F.avg_pool2d(x, 2)
        x = x.permute(0, 2, 3, 1).reshape(x.shape[0], -1)  # flatten as fisens does (H, W, C)
        return x @ self.dense_w + self.dense_b

    def layers(self):
        """The 27 parameter groups of fisens' ByScope grouping, in creation order."""
        out = [("/stem/conv", self.stem_conv), ("/stem/bn", self.stem_bn)]
        for i, b in enumerate(self.blocks):
            s = "/stage%d/block1/" % (i + 2)
            out += [(s + n, getattr(b, n)) for n in ("conv1", "bn1", "conv2", "bn2", "conv3", "bn3", "conv_shortcut", "bn_shortcut")]
        out.append(("/dense", None))
        return [(n, [self.dense_w, self.dense_b] if m is None else list(m.parameters())) for n, m in out]


def to_input(x_nhwc):
    return x_nhwc.permute(0, 3, 1, 2).contiguous(memory_format=torch.channels_last)


def fi_from_gram(M, z, y, reltol=1e-13):
    """FI = ||P v||^2 for each example (fisens' Exact convention, f = log pi_y): Q = W M W^T,
    W = diag(sqrt(pi))(I - 1 pi^T), v = (e_y - pi)/sqrt(pi); P projects on range(Q) (eigenvalues
    above reltol * max). M [N, K, K] float64, z [N, K], y [N]. Returns FI [N], rank [N]."""
    pi = torch.softmax(z.double(), -1)
    sq = pi.sqrt()
    eye = torch.eye(K, dtype=torch.float64)
    W = sq[:, :, None] * (eye[None] - pi[:, None, :])
    Q = W @ M @ W.transpose(1, 2)
    g = -pi.clone()
    g[torch.arange(len(y)), y] += 1
    v = g / sq
    lam, U = torch.linalg.eigh(Q)
    keep = lam > reltol * lam[:, -1:].clamp_min(0)
    c = (U.transpose(1, 2) @ v[:, :, None])[:, :, 0]
    return (c * c * keep).sum(-1), keep.sum(-1)


def input_jacobian(net, x):
    """J [K, N, C, H, W] of the logits w.r.t. each example's own input: one forward, K backward passes."""
    x = x.detach().requires_grad_(True)
    z = net(x)
    rows = [torch.autograd.grad(z[:, k].sum(), x, retain_graph=k < K - 1)[0] for k in range(K)]
    return z.detach(), torch.stack(rows)


def whole_image_fi(net, x, y):
    z, J = input_jacobian(net, x)
    Jf = J.reshape(K, x.shape[0], -1).double()
    M = torch.einsum("knp,jnp->nkj", Jf, Jf)
    return z, fi_from_gram(M, z, y)


def one_backward(net, x):
    x = x.detach().requires_grad_(True)
    z = net(x)
    return torch.autograd.grad(z[:, 3].sum(), x)[0]


def param_grams_loop(net, x1):
    """Per-layer K x K Grams of one example: one forward, K backward passes."""
    groups = net.layers()
    params = [p for _, ps in groups for p in ps]
    z = net(x1)
    rows = [torch.autograd.grad(z[0, k], params, retain_graph=k < K - 1) for k in range(K)]
    grams, i = [], 0
    for _, ps in groups:
        J = torch.cat([torch.stack([rows[k][i + j].reshape(-1) for k in range(K)]) for j in range(len(ps))], 1).double()
        grams.append(J @ J.T)
        i += len(ps)
    return z.detach()[0], torch.stack(grams)


def make_param_grams_vmap(net):
    """functorch per-sample Jacobians (vmap over examples of jacrev over the parameters)."""
    from functorch import make_functional_with_buffers, vmap, jacrev
    fmodel, params, buffers = make_functional_with_buffers(net)
    sizes = [len(ps) for _, ps in net.layers()]

    def f(params, x):
        return fmodel(params, buffers, x[None])[0]

    jac = vmap(jacrev(f), in_dims=(None, 0))

    def grams(x):
        Js = jac(params, x)  # per parameter [B, K, ...]
        out, i = [], 0
        for n in sizes:
            J = torch.cat([Js[i + j].reshape(x.shape[0], K, -1) for j in range(n)], 2).double()
            out.append(J @ J.transpose(1, 2))
            i += n
        return torch.stack(out, 1)  # [B, L, K, K]
    return grams


def patch_maps(Jn, z, y, scales=(1, 3, 5, 7), reltol=1e-13):
    """FI of every k x k patch (clipped at the borders) of one image: Jn [K, H, W] (one channel)."""
    H, W = Jn.shape[1:]
    pi = torch.softmax(z.double(), -1)
    sq = pi.sqrt()
    Wm = sq[:, None] * (torch.eye(K, dtype=torch.float64) - pi[None, :])
    u = torch.einsum("ij,jp->ip", Wm, Jn.reshape(K, -1).double())  # centred per-pixel terms
    outer = (u[:, None, :] * u[None, :, :]).reshape(1, K * K, H, W)
    g = -pi.clone(); g[y] += 1
    v = g / sq
    res = []
    for k in scales:
        Q = F.avg_pool2d(outer, k, stride=1, padding=k // 2, count_include_pad=True) * (k * k) if k > 1 else outer
        Q = Q.reshape(K, K, H * W).permute(2, 0, 1)
        lam, U = torch.linalg.eigh(Q)
        keep = lam > reltol * lam[:, -1:].clamp_min(0)
        c = (U.transpose(1, 2) @ v[None, :, None])[:, :, 0]
        res.append((c * c * keep).sum(-1).reshape(H, W))
    return res


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dir", required=True)
    ap.add_argument("--zoo", default=os.path.join(os.path.dirname(__file__), "../../models/zoo/resnet-small-mnist"))
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workloads", default="fi,bwd,train,params,maps")
    ap.add_argument("--params-n", type=int, default=16)
    ap.add_argument("--maps-n", type=int, default=8)
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    meta = json.load(open(os.path.join(a.dir, "inputs.json")))
    n, h, w, c = meta["shape"]
    x = torch.frombuffer(bytearray(open(os.path.join(a.dir, "inputs.f32"), "rb").read()), dtype=torch.float32).reshape(n, h, w, c)
    y = torch.tensor(meta["labels"])
    X = to_input(x)
    v = load_checkpoint(a.zoo)
    net = ResNetSmall(v).to(memory_format=torch.channels_last).eval()
    work = a.workloads.split(",")
    emit = lambda wl, imgs, s, **kw: print(json.dumps(dict(side="pytorch", backend="torch-%s" % torch.__version__, workload=wl, images=imgs, seconds=s, **kw)), flush=True)

    if a.check:
        z, (fi, rank) = whole_image_fi(net, X, y)
        check_fi(a.dir, z, fi, rank, y)
        check_params(a.dir, net, X, y)
        sys.stderr.write("peer: checks passed\n")

    for wl in work:
        if wl == "fi":
            f = lambda: whole_image_fi(net, X, y)
            imgs = n
        elif wl == "bwd":
            xb = X[:32]
            f = lambda: one_backward(net, xb)
            imgs = 32
        elif wl == "train":
            tnet = ResNetSmall(v).to(memory_format=torch.channels_last).train()
            opt = torch.optim.Adam(tnet.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
            kernels = [m.weight for m in tnet.modules() if isinstance(m, Conv)] + [tnet.dense_w]

            def f():
                opt.zero_grad(set_to_none=True)
                loss = F.cross_entropy(tnet(X), y) + 1e-4 * sum((k * k).sum() for k in kernels)
                loss.backward()
                opt.step()
            imgs = n
        elif wl == "params":
            pn = a.params_n
            try:
                grams = make_param_grams_vmap(net)
                grams(X[:2])
                variant = "functorch vmap(jacrev)"
            except Exception as e:  # functorch missing or failing: the per-example loop
                sys.stderr.write("peer: functorch per-sample Jacobians unavailable (%s): per-example loop\n" % e)
                grams = None
            # Pick the faster PyTorch route on this machine: both warmed up, then the better of two
            # timed tries each (a cold first loop once took 207 ms/example against 63 warm, so the
            # slower vmap route was chosen and PyTorch's parameter FI was under-rated 2x).
            param_grams_loop(net, X[:1])
            tl = min(timed(lambda: [param_grams_loop(net, X[i:i + 1]) for i in range(4)]) for _ in range(2)) / 4
            tv = min(timed(lambda: grams(X[:4])) for _ in range(2)) / 4 if grams else math.inf
            if tl <= tv:
                variant = "K backward passes per example"
                f = lambda: [param_grams_loop(net, X[i:i + 1]) for i in range(pn)]
            else:
                f = lambda: grams(X[:pn])
            sys.stderr.write("peer: per-layer parameter FI via %s (%.1f vs %.1f ms/example loop/vmap)\n" % (variant, tl * 1e3, tv * 1e3))
            imgs = pn
        elif wl == "maps":
            z, J = input_jacobian(net, X[:a.maps_n])
            J = J[:, :, 0]  # [K, N, H, W]
            f = lambda: [patch_maps(J[:, i], z[i], int(y[i])) for i in range(a.maps_n)]
            imgs = a.maps_n
        else:
            raise SystemExit("unknown workload " + wl)
        if a.reps == 0:
            continue
        f()  # warm up
        for _ in range(a.reps):
            emit(wl, imgs, timed(f))


def read_csv(path):
    import csv
    return list(csv.DictReader(open(path)))


def check_fi(d, z, fi, rank, y):
    rows = read_csv(os.path.join(d, "fi.csv"))
    assert len(rows) == len(fi), (len(rows), len(fi))
    pi = torch.softmax(z.double(), -1)
    worst_p, worst_fi = 0.0, 0.0
    for r in rows:
        i = int(r["index"])
        p = float(pi[i, y[i]])
        worst_p = max(worst_p, abs(p - float(r["prob"])) / max(p, 1e-30))
        # FI = odds (1 - p)/p here: relative error ~ 1e-7 / p in float32, so compare with that scale.
        tol = 2e-3 * (1 + float(r["fi"])) + 1e-5 * float(r["fi"]) / max(p, 1e-30)
        if abs(float(fi[i]) - float(r["fi"])) > tol or int(rank[i]) != int(r["rank"]):
            raise SystemExit("peer: FI of image %d differs: pytorch %.8g (rank %d), fisens %s (rank %s)" % (i, fi[i], rank[i], r["fi"], r["rank"]))
        worst_fi = max(worst_fi, abs(float(fi[i]) - float(r["fi"])) / max(abs(float(r["fi"])), 1e-12))
    sys.stderr.write("peer: whole-image FI of %d images agrees with fisens (max rel. diff FI %.2g, pi_y %.2g)\n" % (len(rows), worst_fi, worst_p))


def check_params(d, net, X, y):
    path = os.path.join(d, "params.csv")
    if not os.path.exists(path):
        return
    rows = read_csv(path)
    groups = [g for g, _ in net.layers()]
    worst = 0.0
    byex = {}
    for r in rows:
        byex.setdefault(int(r["index"]), {})[r["layer"]] = r
    for i, layers in byex.items():
        z, grams = param_grams_loop(net, X[i:i + 1])
        fi, rank = fi_from_gram(grams, z[None].expand(len(groups), K), torch.full((len(groups),), int(y[i])))
        for li, name in enumerate(groups):
            r = layers[name]
            got, want = float(fi[li]), float(r["fi"])
            if abs(got - want) > 2e-3 * (1 + abs(want)) or int(rank[li]) != int(r["rank"]):
                raise SystemExit("peer: layer FI %s of image %d differs: pytorch %.8g (rank %d), fisens %s (rank %s)" % (name, i, got, rank[li], want, r["rank"]))
            worst = max(worst, abs(got - want) / max(abs(want), 1e-12))
    sys.stderr.write("peer: per-layer FI of %d images x %d layers agrees with fisens (max rel. diff %.2g)\n" % (len(byex), len(groups), worst))


if __name__ == "__main__":
    main()
