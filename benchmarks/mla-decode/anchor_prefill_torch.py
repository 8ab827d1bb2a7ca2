"""PyTorch-CPU anchor for the prefill of one Qwen2.5-VL-7B-shaped decoder layer (fp32, random weights N(0, 0.02^2)),
the whole layer as transformers computes it: RMSNorm, q/k/v projections with biases, RoPE, causal attention with 4 KV
heads shared by 28 query heads (softmax(q·kᵀ/√d_h + causal mask)·v, as transformers' eager attention), o_proj, residual, RMSNorm, SwiGLU MLP, residual.
Usage: /usr/bin/python3 anchor_prefill_torch.py [TOKENS=512] [THREADS=2]; prints one line per figure."""
import sys, time, torch
n = int(sys.argv[1]) if len(sys.argv) > 1 else 512
torch.set_num_threads(int(sys.argv[2]) if len(sys.argv) > 2 else 2); torch.manual_seed(0)
d, nh, nkv, dh, ff, eps, theta = 3584, 28, 4, 128, 18944, 1e-6, 1e6
W = lambda *s: torch.randn(*s) * 0.02
Wq, bq, Wk, bk, Wv, bv, Wo = W(nh*dh, d), W(nh*dh), W(nkv*dh, d), W(nkv*dh), W(nkv*dh, d), W(nkv*dh), W(d, nh*dh)
Wg, Wu, Wd = W(ff, d), W(ff, d), W(d, ff)
g1, g2 = torch.ones(d), torch.ones(d)
inv = 1.0 / theta ** (torch.arange(0, dh, 2).float() / dh)
ang = torch.outer(torch.arange(n).float(), inv); ang = torch.cat([ang, ang], -1)
cos, sin = ang.cos(), ang.sin()
mask = torch.full((n, n), float('-inf')).triu(1)
def rms(x, g): return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * g
def rot(x): x1, x2 = x.chunk(2, -1); return torch.cat([-x2, x1], -1)
def layer(x):
    h = rms(x, g1)
    q = torch.nn.functional.linear(h, Wq, bq).view(n, nh, dh).transpose(0, 1)
    k = torch.nn.functional.linear(h, Wk, bk).view(n, nkv, dh).transpose(0, 1)
    v = torch.nn.functional.linear(h, Wv, bv).view(n, nkv, dh).transpose(0, 1)
    q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
    k, v = k.repeat_interleave(nh // nkv, 0), v.repeat_interleave(nh // nkv, 0)
    s = (q @ k.transpose(1, 2)) / dh ** 0.5 + mask
    a = s.softmax(-1) @ v
    x = x + torch.nn.functional.linear(a.transpose(0, 1).reshape(n, nh*dh), Wo)
    h = rms(x, g2)
    return x + torch.nn.functional.linear(torch.nn.functional.silu(torch.nn.functional.linear(h, Wg)) * torch.nn.functional.linear(h, Wu), Wd)
with torch.no_grad():
    x = torch.randn(n, d)
    layer(x)
    times = []
    for _ in range(5):
        t = time.perf_counter(); layer(x); times.append(time.perf_counter() - t)
    times.sort()
    print(f"anchor prefill {n} tok (whole layer, torch {torch.__version__}, {torch.get_num_threads()} threads): {n/times[2]:.1f} tok/s")
