#!/usr/bin/python3
"""PyTorch's side of scripts/bench-peer/ablate (docs/performance.md): the training step of peer.py's
replica split into forward (inference, training mode), input gradient, forward + backward in training
mode and the Adam step; median wall and process CPU time of 7 runs. Environment as run.sh sets it.

    /usr/bin/python3 scripts/bench-peer/ablate.py DIR [profile]   (DIR from `bench-peer --export`)
"""
import sys, time, statistics, os
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "."))
import torch, torch.nn.functional as F
import peer
torch.set_num_threads(int(os.environ.get("PEER_THREADS", "2")))  # PEER_THREADS=1 with taskset for one core
d = sys.argv[1]
import json
meta = json.load(open(os.path.join(d, "inputs.json")))
n, h, w, c = meta["shape"]
x = torch.frombuffer(bytearray(open(os.path.join(d, "inputs.f32"), "rb").read()), dtype=torch.float32).reshape(n, h, w, c)
y = torch.tensor(meta["labels"])
X = peer.to_input(x)
v = peer.load_checkpoint(os.path.join(os.path.dirname(__file__), "../../models/zoo/resnet-small-mnist"))
def med(f, reps=7):
    f(); f()
    ts, cs = [], []
    for _ in range(reps):
        t0 = time.perf_counter(); c0 = time.process_time(); f(); ts.append(time.perf_counter() - t0); cs.append(time.process_time() - c0)
    return statistics.median(ts), statistics.median(cs)
tnet = peer.ResNetSmall(v).to(memory_format=torch.channels_last).train()
opt = torch.optim.Adam(tnet.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
kernels = [m.weight for m in tnet.modules() if isinstance(m, peer.Conv)] + [tnet.dense_w]
def lossf():
    return F.cross_entropy(tnet(X), y) + 1e-4 * sum((k * k).sum() for k in kernels)
def fwd():
    with torch.no_grad(): lossf()
def fwdbwd():
    opt.zero_grad(set_to_none=True); lossf().backward()
def step():
    opt.zero_grad(set_to_none=True); lossf().backward(); opt.step()
inet = peer.ResNetSmall(v).to(memory_format=torch.channels_last).eval()
def fwd_infer():
    with torch.no_grad(): inet(X)
def gradx():
    xx = X.detach().requires_grad_(True); torch.autograd.grad(F.cross_entropy(inet(xx), y), xx)
for name, f in [("fwd-infer", fwd_infer), ("fwd-train(nograd)", fwd), ("gradx-infer", gradx), ("fwd+bwd-train", fwdbwd), ("step", step)]:
    t, c = med(f)
    print("%-18s %.4f s  %.0f img/s  cpu %.4f s  load %s" % (name, t, n / t, c, open("/proc/loadavg").read().split()[0]))
if len(sys.argv) > 2:
    from torch.profiler import profile, ProfilerActivity
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(3): step()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=25))
