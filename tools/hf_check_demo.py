#!/usr/bin/env python3
# Usage: python tools/hf_check_demo.py demo-out/model demo-out/data   (needs torch + transformers >= 5)
"""The demo's saved model under transformers: golden logits (computed by the project before saving) vs
Qwen2_5_VLForConditionalGeneration on the same inputs, greedy ids, and the HF processor's inputs vs the golden ones."""
import sys, json, torch
from transformers import AutoProcessor, Qwen2_5_VLForConditionalGeneration
from safetensors.torch import load_file
from PIL import Image
d, data = sys.argv[1], sys.argv[2]
m = Qwen2_5_VLForConditionalGeneration.from_pretrained(d, dtype=torch.float32).eval()
g = load_file(d + '/golden.safetensors')
for c in sorted({k.split('.')[0] for k in g}):
    ids = g[c + '.input_ids'].long()[None]
    kw = dict(input_ids=ids, pixel_values=g[c + '.pixel_values'], image_grid_thw=g[c + '.image_grid_thw'].long().reshape(-1, 3),
              mm_token_type_ids=(ids == m.config.image_token_id).long())
    with torch.no_grad():
        logits = m(**kw).logits[0]
        gen = m.generate(**kw, attention_mask=torch.ones_like(ids), max_new_tokens=4, do_sample=False)[0, ids.shape[1]:]
    ref = g[c + '.logits']
    print(f"{c}: {ids.shape[1]} tokens, max |logits - golden| {(logits - ref).abs().max().item():.3e} (max |logit| {ref.abs().max().item():.2f}), "
          f"greedy {gen.tolist()} golden {g[c + '.generated_ids'].tolist()}")
test = json.load(open(data + '/test.json'))
p = AutoProcessor.from_pretrained(d)
for c, rec in (('c0', test[0]), ('c1', test[-1])):
    q = rec['conversations'][0]['value'].replace('<image>\n', '')
    msgs = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": q}]}]
    enc = p(text=[p.apply_chat_template(msgs, add_generation_prompt=True)], images=[Image.open(data + '/' + rec['image']).convert('RGB')],
            return_tensors='pt')
    with torch.no_grad():
        out = m.generate(**enc, max_new_tokens=4, do_sample=False)
    print(f"{c}: processor input_ids == golden: {enc['input_ids'][0].tolist() == g[c + '.input_ids'].long().tolist()}, "
          f"pixel max diff {(enc['pixel_values'] - g[c + '.pixel_values']).abs().max().item():.2e}, question {q!r}, "
          f"answer {p.batch_decode(out[:, enc['input_ids'].shape[1]:], skip_special_tokens=True)[0]!r}, target {rec['conversations'][1]['value']!r}")
