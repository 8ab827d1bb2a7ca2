"""PyTorch-CPU anchor for stage-2 training throughput, the counterpart of ../shared/bench/anchor_train_torch.py (stage 1):
the same Qwen2-style decoder (d 512, 4 layers, 8 heads, 2 KV heads, ff 1408, vocab 8192; RMSNorm, SwiGLU) with the MLA
attention of a converted model (partial RoPE d_r = d_h/4 per KV head, latent d_kv = d_h/4 per KV head): q_proj (bias),
k_rope_proj (bias) -> RoPE; c_kv = kv_down(x); k_nope = k_up(c_kv) + b_k; v = v_up(c_kv) + b_v; GQA attention over
[k_rope ; k_nope]; o_proj. Stage 2 trains q_proj, k_rope_proj, kv_down, k_up, v_up and the two biases; the rest is
frozen. Text-only sequences, so one factor pair (a PyTorch implementation selects a modality's factors per token; the
project's graph computes both modalities' and blends them, which counts against it here).
Usage: python3 anchor_train_mla_torch.py [batch=1] [seq=256] [steps=6] [head=all|supervised]
head: the lm_head and cross-entropy over every position (as HF's causal-LM loss computes them, the default), or over the
supervised positions only (as the project's MaskedCrossEntropy does: the same arithmetic as the project)."""
import sys, time, torch, torch.nn as nn, torch.nn.functional as F
torch.set_num_threads(2); torch.manual_seed(0)
B = int(sys.argv[1]) if len(sys.argv) > 1 else 1
T = int(sys.argv[2]) if len(sys.argv) > 2 else 256
N = int(sys.argv[3]) if len(sys.argv) > 3 else 6
HEAD = sys.argv[4] if len(sys.argv) > 4 else 'all'
d, L, nh, nkv, ff, V = 512, 4, 8, 2, 1408, 8192
dh = d // nh; dr = dh // 4; dn = dh - dr; dkv = dh // 4; r = nkv * dkv; g = nh // nkv
class RMS(nn.Module):
    def __init__(s): super().__init__(); s.w = nn.Parameter(torch.ones(d))
    def forward(s, x): return s.w * x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6)
def rope(x, cos, sin):
    x1, x2 = x[..., :x.shape[-1] // 2], x[..., x.shape[-1] // 2:]
    return x * cos + torch.cat([-x2, x1], -1) * sin
class Layer(nn.Module):
    def __init__(s):
        super().__init__()
        s.n1, s.n2 = RMS(), RMS()
        s.q, s.kr = nn.Linear(d, nh * dh), nn.Linear(d, nkv * dr)
        s.down, s.kup, s.vup = nn.Linear(d, r, bias=False), nn.Linear(r, nkv * dn), nn.Linear(r, nkv * dh)
        s.o = nn.Linear(nh * dh, d, bias=False)
        s.g, s.u, s.dn = nn.Linear(d, ff, bias=False), nn.Linear(d, ff, bias=False), nn.Linear(ff, d, bias=False)
    def forward(s, x, cos, sin):
        h = s.n1(x)
        q = s.q(h).view(B, T, nh, dh).transpose(1, 2)
        q = torch.cat([rope(q[..., :dr], cos, sin), q[..., dr:]], -1)
        kr = rope(s.kr(h).view(B, T, nkv, dr).transpose(1, 2), cos, sin)
        c = s.down(h)
        kn = s.kup(c).view(B, T, nkv, dn).transpose(1, 2)
        v = s.vup(c).view(B, T, nkv, dh).transpose(1, 2)
        k = torch.cat([kr, kn], -1).repeat_interleave(g, 1); v = v.repeat_interleave(g, 1)
        a = (q @ k.transpose(-1, -2)) / dh ** 0.5
        a = a.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float('-inf')).softmax(-1)
        x = x + s.o((a @ v).transpose(1, 2).reshape(B, T, d))
        h = s.n2(x)
        return x + s.dn(F.silu(s.g(h)) * s.u(h))
emb, layers, norm, head = nn.Embedding(V, d), nn.ModuleList(Layer() for _ in range(L)), RMS(), nn.Linear(d, V, bias=False)
inv = 1.0 / (1e6 ** (torch.arange(0, dr, 2).float() / dr)); ang = torch.arange(T).float()[:, None] * inv
cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)
params = [p for l in layers for m in (l.q, l.kr, l.down, l.kup, l.vup) for p in m.parameters()]
for m in [emb, norm, head, *layers]:
    for p in m.parameters(): p.requires_grad_(False)
for p in params: p.requires_grad_(True)
opt = torch.optim.AdamW(params, lr=1e-5)
ids = torch.randint(0, V, (B, T)); tgt = ids.roll(-1, 1); tgt[:, : 3 * T // 4] = -100
def step():
    x = emb(ids)
    for l in layers: x = l(x, cos, sin)
    if HEAD == 'supervised':
        sel = tgt != -100
        loss = F.cross_entropy(head(norm(x)[sel]), tgt[sel])
    else:
        loss = F.cross_entropy(head(norm(x)).view(-1, V), tgt.view(-1), ignore_index=-100)
    opt.zero_grad(); loss.backward(); torch.nn.utils.clip_grad_norm_(params, 1.0); opt.step()
step(); t = time.perf_counter()
for _ in range(N): step()
dt = (time.perf_counter() - t) / N
print(f"torch stage-2 update B={B} T={T} head={HEAD}: {dt*1000:.1f} ms/update, {B*T/dt:.0f} tokens/s")
