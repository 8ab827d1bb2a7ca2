"""PyTorch anchor for MdSvdLayer.java: MD-SVD of one layer as the authors' run_svd_init.py computes it (float32,
torch.linalg.svd of S = XᵀX / N and of D = W U_s Σ_s^½ per modality, then W_up and W_down), on random data of the same
shape and kind as MdSvdLayer's (W ~ N(0, 0.02²); tokens with channel scales 1 → 0.01 and every 97th channel 30× larger).
Two threads, as the project's runs on these machines. Usage: anchor_mdsvd_torch.py ROWS D RANK TEXT VISUAL [RUNS]
"""
import sys
import time

import torch

torch.set_num_threads(2)
rows, d, rank, text, visual = (int(a) for a in sys.argv[1:6])
runs = int(sys.argv[6]) if len(sys.argv) > 6 else 3
torch.manual_seed(11)
w = torch.randn(rows, d) * 0.02
j = torch.arange(d, dtype=torch.float64)
scales = (10.0 ** (-2.0 * j / d)) * torch.where(j % 97 == 0, 30.0, 1.0)
covariances = []
for n in (text, visual):
    x = (torch.randn(n, d, dtype=torch.float64) * scales).float()
    covariances.append((x.T.double() @ x.double() / n).float())


def factorize(s):
    # run_svd_init.py, one modality: the literal Alg. 1 in float32
    us, ss, _ = torch.linalg.svd(s, full_matrices=False)
    d_mat = w @ us @ torch.diag(torch.sqrt(ss))
    uws, sws, vws = torch.linalg.svd(d_mat, full_matrices=False)
    uws, sws, vws = uws[:, :rank], sws[:rank], vws[:rank, :]
    w_up = uws @ torch.diag(torch.sqrt(sws))
    w_down = torch.diag(torch.sqrt(sws)) @ vws @ torch.linalg.inv(torch.diag(torch.sqrt(ss))) @ torch.linalg.inv(us)
    return w_up, w_down


for run in range(1, runs + 1):
    t0 = time.perf_counter()
    for s in covariances:
        factorize(s)
    print(f"torch MD-SVD of one layer, W {rows} x {d}, rank {rank}, {text} text + {visual} visual tokens: "
          f"run {run} {time.perf_counter() - t0:.2f} s", flush=True)
