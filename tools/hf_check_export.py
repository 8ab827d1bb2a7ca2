#!/usr/bin/env python3
"""Converted folders under transformers: logits and greedy ids against this project's (needs torch, transformers >= 5).

    python3 tools/hf_check_export.py ROOT [REPORT.json]

Every folder under ROOT (or ROOT itself) that holds golden.safetensors — cN.input_ids (and the processor's other
outputs), cN.logits and cN.generated_ids computed by this project (tools/ProjectGoldens.java) — is loaded with
AutoModelForImageTextToText.from_pretrained(folder, trust_remote_code=True) (the folder's modeling_mha2mla.py, written
by TransformersExport) in float32 on CPU, run on each case, and compared: max |Δlogits| over every position and
vocabulary entry, greedy ids of generate() (KV cache on, the latent cache for MLA folders), and what the cache holds
per token in layer 0. Prints one line per case; writes the report as JSON.
"""
import json
import os
import sys

import torch
from safetensors.torch import load_file
from transformers import AutoModelForImageTextToText

INPUTS = ("input_ids", "attention_mask", "pixel_values", "image_sizes", "image_grid_thw", "mm_token_type_ids")


def model_inputs(model, g, c):
    """The processor outputs of case c as generate() takes them (batch of one)."""
    kw = {k: g[f"{c}.{k}"] for k in INPUTS if f"{c}.{k}" in g}
    kw["input_ids"] = kw["input_ids"].long().reshape(1, -1)
    kw.setdefault("attention_mask", torch.ones_like(kw["input_ids"]))
    if "image_grid_thw" in kw:
        kw["image_grid_thw"] = kw["image_grid_thw"].long().reshape(-1, 3)
    if "image_sizes" in kw:
        kw["image_sizes"] = kw["image_sizes"].long().reshape(-1, 2)
    if model.config.model_type == "qwen2_5_vl" and "mm_token_type_ids" not in kw:
        kw["mm_token_type_ids"] = (kw["input_ids"] == model.config.image_token_id).long()
    return kw


def check(folder):
    model = AutoModelForImageTextToText.from_pretrained(folder, trust_remote_code=True, dtype=torch.float32)
    g = load_file(os.path.join(folder, "golden.safetensors"))
    attn = model.model.language_model.layers[0].self_attn
    entry = {"class": type(model).__name__, "attention": type(attn).__name__, "cases": {}}
    for c in sorted({k.split(".")[0] for k in g}):
        kw = model_inputs(model, g, c)
        expected_ids = g[f"{c}.generated_ids"].long().reshape(-1).tolist()
        with torch.no_grad():
            out = model(**kw, use_cache=True)
            layer = out.past_key_values.layers[0]
            gen = model.generate(**kw, max_new_tokens=len(expected_ids), do_sample=False)
        ids = gen[0, kw["input_ids"].shape[1]:].tolist()
        diff = float((out.logits[0].float() - g[f"{c}.logits"].float()).abs().max())
        entry["cases"][c] = {"tokens": kw["input_ids"].shape[1], "image": "pixel_values" in kw, "max_abs_logits": diff,
                             "ids_equal": ids == expected_ids, "ids": ids, "expected_ids": expected_ids,
                             "cache_keys": list(layer.keys.shape), "cache_values": list(layer.values.shape)}
        print(f"{os.path.basename(folder)} {c}: {entry['attention']}, max |Δlogits| {diff:.2e}, greedy ids "
              f"{'equal' if ids == expected_ids else 'DIFFER ' + str(ids) + ' vs ' + str(expected_ids)}, cache per layer "
              f"{list(layer.keys.shape)} + {list(layer.values.shape)}", flush=True)
    return entry


def main():
    root = sys.argv[1]
    folders = [root] if os.path.exists(os.path.join(root, "golden.safetensors")) else [
        os.path.join(root, d) for d in sorted(os.listdir(root)) if os.path.exists(os.path.join(root, d, "golden.safetensors"))]
    import transformers
    report = {"transformers": transformers.__version__, "torch": torch.__version__, "folders": {}}
    for f in folders:
        try:
            report["folders"][os.path.basename(f)] = check(f)
        except Exception:
            import traceback
            report["folders"][os.path.basename(f)] = {"error": traceback.format_exc()}
            print(os.path.basename(f), "FAILED\n" + traceback.format_exc(), flush=True)
    if len(sys.argv) > 2:
        with open(sys.argv[2], "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
