#!/usr/bin/env python3
"""Writes the safetensors files of Tests/NGPTTests/InspectionFixtures/ with the `safetensors`
library (the writer PyTorch's `safetensors.torch.save_file` uses), so `ngpt cond` and
`ngpt inspect` are tested on files ngpt did not write.

    python3 -m pip install safetensors ml_dtypes numpy
    python3 scripts/make-inspection-fixtures.py

The reference values in InspectionTests.swift were computed from these files with numpy (the
commands are pasted beside them). Rerunning this script rewrites identical files (fixed seed).
"""
import os
import numpy as np
import ml_dtypes
from safetensors.numpy import save_file

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "NGPTTests", "InspectionFixtures")
os.makedirs(out, exist_ok=True)

# 1. Matrices in every float dtype PyTorch writes, a rank-deficient one, and tensors `ngpt cond`
#    must skip (1-D, integer).
a = np.array([[4, 1, 0, 2], [1, 3, 1, 0], [0, 1, 5, 1], [2, 0, 1, 6],
              [1, 2, 3, 4], [0.5, -1, 2, -3]], dtype=np.float32)                    # 6x4
rng = np.random.default_rng(20241001)
half = rng.standard_normal((8, 6)).astype(np.float16)                               # 8x6, F16
bf = rng.standard_normal((4, 8)).astype(ml_dtypes.bfloat16)                         # 4x8, BF16
singular = np.array([[1, 2, 3, 4], [0, 0, 0, 0], [2, -1, 0, 1]], dtype=np.float32)  # rank 2 of 3
save_file({
    "a": a,
    "half": half,
    "bf": bf,
    "singular": singular,
    "bias": np.ones(4, dtype=np.float32),
    "ids": np.arange(6, dtype=np.int64).reshape(2, 3),
}, os.path.join(out, "pytorch_matrices.safetensors"))

# 2. A tiny nGPT state dict under NVIDIA's names (docs/model.md §1), no metadata: d 8, 2 heads, 1 layer,
#    vocabulary 16. Matrices normalised along d (docs/model.md §6); scalers at their initial values.
d, v, layers = 8, 16, 1
def rows_unit(m):
    return (m / np.linalg.norm(m, axis=1, keepdims=True)).astype(np.float32)
def cols_unit(m):
    return (m / np.linalg.norm(m, axis=0, keepdims=True)).astype(np.float32)
g = np.random.default_rng(7)
sd = {
    "transformer.wte.weight": rows_unit(g.standard_normal((v, d))),
    "lm_head.weight": rows_unit(g.standard_normal((v, d))),
    "sz": np.full(v, 1 / np.sqrt(d), dtype=np.float32),
}
for l in range(layers):
    p = f"transformer.h.{l}."
    for name in ["query", "key", "value"]:
        sd[p + name + ".weight"] = rows_unit(g.standard_normal((d, d)))
    sd[p + "att_c_proj.weight"] = cols_unit(g.standard_normal((d, d)))
    sd[p + "c_fc.weight"] = rows_unit(g.standard_normal((8 * d, d)))
    sd[p + "mlp_c_proj.weight"] = cols_unit(g.standard_normal((d, 4 * d)))
    sd[p + "attn_alpha"] = np.full(d, 1 / np.sqrt(d), dtype=np.float32)
    sd[p + "mlp_alpha"] = np.full(d, 1 / np.sqrt(d), dtype=np.float32)
    sd[p + "sqk"] = np.full(d, 1 / np.sqrt(d), dtype=np.float32)
    sd[p + "suv"] = np.ones(8 * d, dtype=np.float32)
save_file(sd, os.path.join(out, "pytorch_ngpt_d8_h2_l1_v16.safetensors"))
print("wrote", sorted(os.listdir(out)))
