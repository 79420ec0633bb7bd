# `ngpt bench` and scripts/torch_bench.py alternately, round after round, so that noise from the
# rest of the machine hits both alike; prints each run and the medians and ratios per model.
#
#     python3 scripts/bench_vs_torch.py s 5 10 [out.jsonl]     # preset, rounds, steps per run
#
# OURS=name=path[,name=path…] compares several ngpt binaries (default: this checkout's release
# build); TORCH_PYTHON is the interpreter that has torch (default: python3).
import json, os, statistics, subprocess, sys
preset, rounds, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
out = sys.argv[4] if len(sys.argv) > 4 else f"bench-vs-torch-{preset}.jsonl"
here = os.path.dirname(os.path.abspath(__file__))
bins = dict(x.split("=", 1) for x in os.environ.get("OURS", "ngpt=" + os.path.join(here, "..", ".build", "release", "ngpt")).split(","))
torch = [os.environ.get("TORCH_PYTHON", "python3"), os.path.join(here, "torch_bench.py")]
def load(): return float(open("/proc/loadavg").read().split()[0])
recs = []
with open(out, "a") as f:
    for r in range(rounds):
        for model in ["gpt", "ngpt"]:
            for impl in list(bins) + ["torch"]:
                l0 = load()
                cmd = ([bins.get(impl, ""), "bench", "--preset", preset, "--model", model, "--steps", str(steps), "--warmup", "2"] + (["--sample"] if preset == "s" else [])
                       if impl != "torch" else torch + ["--preset", preset, "--model", model, "--steps", str(steps), "--warmup", "2"])
                line = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
                rec = json.loads(line); rec.update(impl=impl, round=r, load_before=l0, load_after=load(), preset=preset)
                recs.append(rec); f.write(json.dumps(rec) + "\n"); f.flush()
                print(f"round {r} {model:4s} {impl:5s} {rec['tokens_per_s']:8.1f} tok/s  step {rec['step_s_median']:.3f} s  rss {rec['peak_rss_mb']:.0f} MB  load {l0:.2f}", flush=True)
tp = lambda xs: [x["tokens_per_s"] for x in xs]
for model in ["gpt", "ngpt"]:
    t = [x for x in recs if x["model"] == model and x["impl"] == "torch"]
    print(f"{model}: torch median {statistics.median(tp(t)):.0f} ({min(tp(t)):.0f}-{max(tp(t)):.0f})")
    for b in bins:
        o = [x for x in recs if x["model"] == model and x["impl"] == b]
        ratios = [a["tokens_per_s"] / c["tokens_per_s"] for a, c in zip(o, t)]
        print(f"  {b}: median {statistics.median(tp(o)):.0f} ({min(tp(o)):.0f}-{max(tp(o)):.0f}) ratio median {statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
