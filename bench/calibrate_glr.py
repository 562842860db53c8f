"""Onset rate of max_k S_k/sqrt(k) > c, k<=M, iid N(0,1) daily, steady state."""
import numpy as np, time, sys, json
from scipy.stats import norm
M = int(sys.argv[1]); reps = int(sys.argv[2])
cs_ = np.array([3.0,3.5,4.0,4.5,5.0,5.3])
counts = np.zeros(len(cs_)); total = 0
rng = np.random.default_rng(M)
paths, days = 20000, 300 + M
t = time.time()
for r in range(reps):
    x = rng.standard_normal((paths, days), dtype=np.float32)
    cs = np.concatenate([np.zeros((paths,1),np.float32), np.cumsum(x, axis=1)], axis=1)
    Z = np.full((paths, days), -np.inf, np.float32)
    for k in range(1, M+1):
        s = (cs[:, k:] - cs[:, :-k]) / np.float32(np.sqrt(k))
        np.maximum(Z[:, k-1:], s, out=Z[:, k-1:])
    Z = Z[:, M:]
    for j, c in enumerate(cs_):
        cross = Z > c
        counts[j] += (cross[:,1:] & ~cross[:,:-1]).sum()
    total += paths * (Z.shape[1]-1)
out = {"M": M, "total": total, "c": cs_.tolist(), "onsets": counts.tolist(),
       "rate": (counts/total).tolist(), "ratio_c2": (counts/total/(cs_**2*norm.sf(cs_))).tolist()}
print(json.dumps(out)); print(time.time()-t, file=sys.stderr)
