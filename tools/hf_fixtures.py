#!/usr/bin/env python3
"""Regenerates the golden parity fixtures (test-fixtures/src/main/resources/hf/*, shared by every module's tests) with transformers.

    python3 tools/hf_fixtures.py --out OUT [--check FIXTURES] [--weights-from FIXTURES] [--assets FIXTURES]

For each family (llava, llava_next, qwen2_5_vl) it writes OUT/<family>/: config.json (the configs below), a tiny
random model (torch.manual_seed(seed) before the model is built, then rounded to the storage dtype and saved under
the hub's key names: `language_model.model.*` / `vision_tower.*` for LLaVA, `model.*` / `visual.*` for Qwen2.5-VL),
the tokenizer / chat template / processor files and image0.png copied from --assets (a trained BPE tokenizer and a
drawn picture: inputs, not random weights), case.json with the versions and the seed, and golden.safetensors:

  cN.input_ids, cN.attention_mask, cN.pixel_values, cN.image_sizes (LLaVA-NeXT), cN.image_grid_thw and
  cN.mm_token_type_ids (Qwen): the processor's outputs; cN.position_ids [3, L] and cN.rope_deltas (Qwen M-RoPE);
  cN.image_features (LLaVA family: the rows written over the image tokens); cN.hidden_states [layers+1, L, d];
  cN.logits [L, vocab] (float32, from the rounded weights reloaded in float32); cN.generated_ids (8 greedy tokens).

--weights-from DIR reuses DIR/<family>/model.safetensors instead of drawing weights (to check the goldens alone);
--check DIR compares every output with DIR/<family> and writes OUT/report.json (max |difference| per tensor, equality
of the integer ones). Needs torch, transformers >= 5, safetensors, Pillow; runs on CPU in float32.
"""
import argparse
import json
import os
import shutil
import sys

import torch

FAMILIES = {
    "llava": dict(
        cls="LlavaForConditionalGeneration", dtype="float16", seed=1234,
        config={
            "architectures": ["LlavaForConditionalGeneration"], "ignore_index": -100, "image_token_index": 3,
            "model_type": "llava", "pad_token_id": 4, "projector_hidden_act": "gelu",
            "text_config": {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
                            "intermediate_size": 160, "num_hidden_layers": 3, "num_attention_heads": 4,
                            "max_position_embeddings": 512, "rms_norm_eps": 1e-05, "vocab_size": 600,
                            "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "float16"},
            "tie_word_embeddings": False, "torch_dtype": "float16",
            "vision_config": {"hidden_size": 48, "image_size": 56, "intermediate_size": 96, "model_type": "clip_vision_model",
                              "num_attention_heads": 4, "num_hidden_layers": 3, "patch_size": 14, "projection_dim": 32},
            "vision_feature_layer": -2, "vision_feature_select_strategy": "default", "vocab_size": 600},
        prompts=["USER: <image>\nWhat is the color of the square? ASSISTANT:", "USER: how many shapes are there? ASSISTANT:"]),
    "llava_next": dict(
        cls="LlavaNextForConditionalGeneration", dtype="bfloat16", seed=1234,
        config={
            "architectures": ["LlavaNextForConditionalGeneration"], "ignore_index": -100,
            "image_grid_pinpoints": [[56, 112], [112, 56], [112, 112], [168, 56], [56, 168]], "image_token_index": 3,
            "model_type": "llava_next", "projector_hidden_act": "gelu",
            "text_config": {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64,
                            "intermediate_size": 176, "num_hidden_layers": 3, "num_attention_heads": 8, "num_key_value_heads": 2,
                            "max_position_embeddings": 1024, "rms_norm_eps": 1e-05, "rope_theta": 500000.0, "vocab_size": 600,
                            "bos_token_id": 1, "eos_token_id": 2, "torch_dtype": "bfloat16"},
            "torch_dtype": "bfloat16", "use_image_newline_parameter": True,
            "vision_config": {"hidden_size": 48, "image_size": 56, "intermediate_size": 96, "model_type": "clip_vision_model",
                              "num_attention_heads": 4, "num_hidden_layers": 3, "patch_size": 14, "projection_dim": 32},
            "vision_feature_layer": -2, "vision_feature_select_strategy": "default", "vocab_size": 600},
        prompts=["USER: <image>\nWhat is the color of the square? ASSISTANT:", "USER: how many shapes are there? ASSISTANT:"]),
    "qwen2_5_vl": dict(
        cls="Qwen2_5_VLForConditionalGeneration", dtype="bfloat16", seed=1234,
        config={
            "architectures": ["Qwen2_5_VLForConditionalGeneration"], "attention_dropout": 0.0, "bos_token_id": 0, "eos_token_id": 2,
            "vision_start_token_id": 3, "vision_end_token_id": 4, "vision_token_id": 5, "image_token_id": 6, "video_token_id": 7,
            "hidden_act": "silu", "hidden_size": 64, "initializer_range": 0.02, "intermediate_size": 192,
            "max_position_embeddings": 4096, "max_window_layers": 3, "model_type": "qwen2_5_vl", "num_attention_heads": 4,
            "num_hidden_layers": 3, "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
            "sliding_window": 4096, "tie_word_embeddings": False, "torch_dtype": "bfloat16", "use_cache": True,
            "use_sliding_window": False,
            "vision_config": {"depth": 4, "hidden_act": "silu", "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
                              "in_chans": 3, "out_hidden_size": 64, "patch_size": 14, "spatial_merge_size": 2,
                              "spatial_patch_size": 14, "window_size": 56, "fullatt_block_indexes": [1, 3],
                              "tokens_per_second": 2, "temporal_patch_size": 2},
            "rope_scaling": {"type": "mrope", "mrope_section": [2, 3, 3]}, "vocab_size": 400},
        prompts=["<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is the color of the square?<|im_end|>\n"
                 "<|im_start|>assistant\n", "<|im_start|>user\nhow many shapes are there?<|im_end|>\n<|im_start|>assistant\n"]),
}
ASSET_FILES = ["tokenizer.json", "tokenizer_config.json", "chat_template.jinja", "preprocessor_config.json",
               "processor_config.json", "image0.png"]
NEW_TOKENS = 8


def hub_key(family, key):
    """transformers-5 state-dict key → the key the hub checkpoint uses (what the fixtures store)."""
    if family == "qwen2_5_vl":
        for new, old in (("model.language_model.", "model."), ("model.visual.", "visual.")):
            if key.startswith(new):
                return old + key[len(new):]
        return key
    for new, old in (("model.language_model.", "language_model.model."), ("model.vision_tower.", "vision_tower."),
                     ("model.multi_modal_projector.", "multi_modal_projector."), ("model.image_newline", "image_newline"),
                     ("lm_head.", "language_model.lm_head.")):
        if key.startswith(new):
            return old + key[len(new):]
    return key


def build_model(family, spec, out_dir, weights_from, seed_once):
    import transformers
    from safetensors.torch import load_file, save_file
    cls = getattr(transformers, spec["cls"])
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(spec["config"], f, indent=2)
    config = transformers.AutoConfig.from_pretrained(out_dir)
    storage = getattr(torch, spec["dtype"])
    if weights_from:
        shutil.copy(os.path.join(weights_from, family, "model.safetensors"), os.path.join(out_dir, "model.safetensors"))
    else:
        if not seed_once:
            torch.manual_seed(spec["seed"])
        model = cls(config)
        state = {hub_key(family, k): v.detach().to(storage).contiguous() for k, v in model.state_dict().items()}
        save_file(state, os.path.join(out_dir, "model.safetensors"), metadata={"format": "pt"})
    # float32 reload of the rounded weights: what every golden is computed from
    model = cls.from_pretrained(out_dir, dtype=torch.float32).eval()
    return model, load_file(os.path.join(out_dir, "model.safetensors"))


def capture_decoder_inputs(model):
    """Hooks the language model: the inputs_embeds and position_ids it receives on the next call."""
    seen = {}
    lm = model.model.language_model

    def hook(module, args, kwargs):
        if "inputs_embeds" in kwargs and kwargs["inputs_embeds"] is not None and "embeds" not in seen:
            seen["embeds"] = kwargs["inputs_embeds"].detach().clone()
            if kwargs.get("position_ids") is not None:
                seen["position_ids"] = kwargs["position_ids"].detach().clone()
    return seen, lm.register_forward_pre_hook(hook, with_kwargs=True)


def goldens(family, spec, model, out_dir):
    from PIL import Image
    from transformers import AutoProcessor
    processor = AutoProcessor.from_pretrained(out_dir)
    image = Image.open(os.path.join(out_dir, "image0.png")).convert("RGB")
    image_token = model.config.image_token_id if hasattr(model.config, "image_token_id") else model.config.image_token_index
    g, cases = {}, []
    for c, prompt in enumerate(spec["prompts"]):
        has_image = "<image>" in prompt or "<|image_pad|>" in prompt
        enc = processor(text=[prompt], images=[image] if has_image else None, return_tensors="pt")
        p = f"c{c}."
        for k in ("input_ids", "attention_mask", "pixel_values", "image_sizes", "image_grid_thw", "mm_token_type_ids"):
            if k in enc and enc[k] is not None:
                g[p + k] = enc[k].contiguous()
        seen, handle = capture_decoder_inputs(model)
        with torch.no_grad():
            out = model(**enc, output_hidden_states=True)
        handle.remove()
        ids = enc["input_ids"][0]
        if has_image and family != "qwen2_5_vl":
            g[p + "image_features"] = seen["embeds"][0][ids == image_token].float().contiguous()
        if family == "qwen2_5_vl":
            pos, deltas = model.model.get_rope_index(enc["input_ids"], enc["mm_token_type_ids"], image_grid_thw=enc.get("image_grid_thw"),
                                                     attention_mask=enc["attention_mask"])
            g[p + "position_ids"] = pos[:, 0].long().contiguous()   # [3, L]
            g[p + "rope_deltas"] = deltas.long().reshape(1, 1).contiguous()
        g[p + "hidden_states"] = torch.stack([h[0] for h in out.hidden_states]).float().contiguous()
        g[p + "logits"] = out.logits[0].float().contiguous()
        with torch.no_grad():
            gen = model.generate(**enc, max_new_tokens=NEW_TOKENS, do_sample=False)
        g[p + "generated_ids"] = gen[0, ids.shape[0]:].long().contiguous()
        cases.append({"prompt": prompt, "image": "image0.png" if has_image else None,
                      "image_size": list(image.size) if has_image else None, "seq_len": int(ids.shape[0]),
                      "decoded_generation": processor.decode(g[p + "generated_ids"])})
    return g, cases


def compare(a, b):
    """{key: {"max_abs": …} or {"equal": …}} over the keys of both, plus the keys only one has."""
    r = {}
    for k in sorted(set(a) | set(b)):
        if k not in a or k not in b:
            r[k] = {"missing_in": "new" if k not in a else "reference"}
        elif a[k].shape != b[k].shape:
            r[k] = {"shape": [list(a[k].shape), list(b[k].shape)]}
        elif a[k].is_floating_point():
            r[k] = {"max_abs": float((a[k].float() - b[k].float()).abs().max()) if a[k].numel() else 0.0}
        else:
            r[k] = {"equal": bool(torch.equal(a[k], b[k]))}
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--assets", help="folder with <family>/{tokenizer.json, …, image0.png} (default: --check)")
    ap.add_argument("--check", help="existing fixtures to compare with (writes OUT/report.json)")
    ap.add_argument("--weights-from", help="reuse these fixtures' model.safetensors instead of drawing weights")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--seed-once", action="store_true",
                    help="seed once (the first family's seed) and build the families in turn from one random stream")
    a = ap.parse_args()
    import transformers
    from safetensors.torch import load_file, save_file
    assets = a.assets or a.check
    if not assets:
        sys.exit("hf_fixtures: --assets (or --check) must name a folder holding the tokenizer, processor files and image0.png")
    report = {"transformers": transformers.__version__, "torch": torch.__version__, "seed_once": a.seed_once, "families": {}}
    if a.seed_once:
        torch.manual_seed(FAMILIES[a.families.split(",")[0]]["seed"])
    for family in a.families.split(","):
        spec = FAMILIES[family]
        out_dir = os.path.join(a.out, family)
        os.makedirs(out_dir, exist_ok=True)
        for f in ASSET_FILES:
            shutil.copy(os.path.join(assets, family, f), out_dir)
        entry = {}
        try:
            model, weights = build_model(family, spec, out_dir, a.weights_from, a.seed_once)
            g, cases = goldens(family, spec, model, out_dir)
            save_file(g, os.path.join(out_dir, "golden.safetensors"))
            with open(os.path.join(out_dir, "case.json"), "w") as f:
                json.dump({"name": family, "transformers": transformers.__version__, "torch": torch.__version__,
                           "seed": spec["seed"], "weights_dtype": "torch." + spec["dtype"],
                           "weights": "reused from " + a.weights_from if a.weights_from else "drawn", "cases": cases}, f, indent=1)
            if a.check:
                ref_dir = os.path.join(a.check, family)
                entry["weights"] = compare(weights, load_file(os.path.join(ref_dir, "model.safetensors")))
                entry["weights_max_abs"] = max((v.get("max_abs", 0.0) for v in entry["weights"].values()), default=0.0)
                entry["weights_all_present"] = all("missing_in" not in v and "shape" not in v for v in entry["weights"].values())
                if entry["weights_max_abs"] == 0.0 and entry["weights_all_present"]:
                    entry["weights"] = "identical"
                entry["goldens"] = compare(g, load_file(os.path.join(ref_dir, "golden.safetensors")))
        except Exception as e:  # one family's failure is reported, the others still run
            import traceback
            entry["error"] = traceback.format_exc()
        report["families"][family] = entry
        print(family, json.dumps(entry)[:2000], flush=True)
    with open(os.path.join(a.out, "report.json"), "w") as f:
        json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
