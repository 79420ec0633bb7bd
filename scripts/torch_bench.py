# PyTorch counterpart of `ngpt bench`: the same GPT / nGPT training step (docs/model.md sections 3-7:
# forward, backward, gradient clipping, AdamW and, for nGPT, the weight renormalisation), float32,
# eager, scaled_dot_product_attention, 2 threads, on seeded random bytes. Prints one JSON line with
# the keys `ngpt bench` uses. Needs `pip install torch`; the project itself never imports it.
#
#     python3 scripts/torch_bench.py --preset s --model ngpt --steps 10
import argparse, json, math, resource, statistics, time
import torch, torch.nn as nn, torch.nn.functional as F

ap = argparse.ArgumentParser()
ap.add_argument("--model", default="gpt")
ap.add_argument("--preset", default="s")
ap.add_argument("--steps", type=int, default=10)
ap.add_argument("--warmup", type=int, default=2)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--compile", action="store_true")
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
d, L, H, T, B = (256, 4, 4, 256, 8) if a.preset == "s" else (512, 8, 8, 512, 4)
V = 256; dk = d // H; Fh = 4 * d; ngpt = a.model == "ngpt"

def rope_tables(T, dk):
    theta = 10000.0 ** (-2.0 * torch.arange(dk // 2, dtype=torch.float64) / dk)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * theta[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()
COS, SIN = rope_tables(T, dk)

def rope(x):  # (B, H, T, dk), pairs (2i, 2i+1)
    x2 = x.unflatten(-1, (dk // 2, 2))
    a, b = x2[..., 0], x2[..., 1]
    return torch.stack((a * COS - b * SIN, a * SIN + b * COS), -1).flatten(-2)

class RMSNorm(nn.Module):
    def __init__(s):
        super().__init__(); s.weight = nn.Parameter(torch.ones(d))
    def forward(s, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * s.weight

def norm(x): return F.normalize(x, dim=-1, eps=1e-12)

class Block(nn.Module):
    def __init__(s):
        super().__init__()
        s.query = nn.Linear(d, d, bias=False); s.key = nn.Linear(d, d, bias=False); s.value = nn.Linear(d, d, bias=False)
        s.att_c_proj = nn.Linear(d, d, bias=False)
        s.c_fc = nn.Linear(d, 2 * Fh, bias=False); s.mlp_c_proj = nn.Linear(Fh, d, bias=False)
        if ngpt:
            s.attn_alpha = nn.Parameter(torch.full((d,), d ** -0.5)); s.mlp_alpha = nn.Parameter(torch.full((d,), d ** -0.5))
            s.sqk = nn.Parameter(torch.full((d,), d ** -0.5)); s.suv = nn.Parameter(torch.ones(2 * Fh))
        else:
            s.rmsnorm_att = RMSNorm(); s.rmsnorm_mlp = RMSNorm()
    def attn(s, x):
        q, k, v = (m(x).view(B, T, H, dk).transpose(1, 2) for m in (s.query, s.key, s.value))
        q, k = rope(q), rope(k)
        if ngpt:
            sqk = (s.sqk * d ** 0.5).view(1, H, 1, dk)
            q, k = sqk * norm(q), sqk * norm(k)
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=dk ** 0.5)
        else:
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        return s.att_c_proj(y.transpose(1, 2).reshape(B, T, d))
    def mlp(s, x):
        uv = s.c_fc(x)
        if ngpt: uv = uv * (s.suv * d ** 0.5)
        u, nu = uv.chunk(2, -1)
        return s.mlp_c_proj(u * F.silu(nu))
    def forward(s, x):
        if not ngpt:
            x = x + s.attn(s.rmsnorm_att(x))
            return x + s.mlp(s.rmsnorm_mlp(x))
        aA = s.attn_alpha.abs() * (0.05 * d ** 0.5); aM = s.mlp_alpha.abs() * (0.05 * d ** 0.5)
        x = norm(x); x = norm(x + aA * (norm(s.attn(x)) - x))
        return norm(x + aM * (norm(s.mlp(x)) - x))

class Model(nn.Module):
    def __init__(s):
        super().__init__()
        s.wte = nn.Embedding(V, d); s.h = nn.ModuleList(Block() for _ in range(L))
        s.lm_head = nn.Linear(d, V, bias=False)
        if ngpt: s.sz = nn.Parameter(torch.full((V,), d ** -0.5))
        else: s.rmsnorm_f = RMSNorm()
        std = d ** -0.5 if ngpt else 0.02
        for n, p in s.named_parameters():
            if p.dim() == 2: nn.init.normal_(p, std=std / (math.sqrt(2 * L) if n.endswith("c_proj.weight") else 1))
    def forward(s, idx, tgt):
        x = s.wte(idx)
        for b in s.h: x = b(x)
        logits = s.lm_head(x) * (s.sz * d ** 0.5) if ngpt else s.lm_head(s.rmsnorm_f(x))
        return F.cross_entropy(logits.view(-1, V), tgt.view(-1))
    @torch.no_grad()
    def renormalize(s):
        for n, p in s.named_parameters():
            if p.dim() == 2: p.copy_(F.normalize(p, dim=0 if n.endswith("c_proj.weight") else 1))

m = Model()
if ngpt: m.renormalize()
decay = [p for p in m.parameters() if p.dim() == 2]; other = [p for p in m.parameters() if p.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.0 if ngpt else 0.1}, {"params": other, "weight_decay": 0.0}],
                        lr=1e-4, betas=(0.9, 0.95), eps=1e-8)
fwd = torch.compile(m) if a.compile else m
g = torch.Generator().manual_seed(2)
data = torch.randint(0, V, (B, T + 1), generator=g)
x, y = data[:, :-1].contiguous(), data[:, 1:].contiguous()
times = []
for i in range(a.warmup + a.steps):
    t0 = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss = fwd(x, y); loss.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
    opt.step()
    if ngpt: m.renormalize()
    if i >= a.warmup: times.append(time.perf_counter() - t0)
med = statistics.median(times)
flop = 6 * (16 * L * d * d + V * d) + 12 * L * T * d
print(json.dumps({"impl": "torch " + torch.__version__, "model": a.model, "dim": d, "layers": L, "heads": H, "context": T, "batch": B,
                  "threads": a.threads, "params": sum(p.numel() for p in m.parameters()), "step_s_median": med,
                  "step_s_min": min(times), "step_s_max": max(times), "tokens_per_s": B * T / med,
                  "gflops": B * T / med * flop / 1e9, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "loss": loss.item()}))
