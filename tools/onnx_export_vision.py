#!/usr/bin/env python3
"""Exports the fixtures' vision encoders to ONNX in the variants tried for SameDiff's ONNX import.

    python3 tools/onnx_export_vision.py FIXTURES OUT

FIXTURES holds llava/ and qwen2_5_vl/ (the golden fixtures). Writes OUT/<tower>-<variant>.onnx and
OUT/<tower>-expected.safetensors (the input and torch's output), and OUT/onnx_report.json: per file the opset, the
op types it uses, and onnxruntime's max |difference| from torch.

Towers, exported as the project's native towers compute them (so one can stand in for the other):
  clip:  pixel_values [1, 3, 56, 56] → the hidden state of vision_feature_layer (-2) without the CLS row, [1, 16, 48]
  qwen:  pixel_values [80, 1176] of the fixture image (grid 1×10×8) → the merged features [20, 64]; the grid's
         bookkeeping (window order, rotary angles) is traced for that grid, so the file serves images of that size
Variants: legacy TorchScript exporter at opsets 17, 14, 13 (constant folding on, static shapes), the dynamo exporter
(its default opset), and the opset-14 file after onnx's shape inference and onnxruntime's basic (standard-op)
graph optimisations.
"""
import json
import os
import sys

import torch


class ClipTower(torch.nn.Module):
    def __init__(self, vision_tower, layer):
        super().__init__()
        self.tower, self.layer = vision_tower, layer

    def forward(self, pixel_values):
        h = self.tower(pixel_values, output_hidden_states=True).hidden_states[self.layer]
        return h[:, 1:]


class QwenTower(torch.nn.Module):
    def __init__(self, visual, grid):
        super().__init__()
        self.visual, self.grid = visual, grid

    def forward(self, pixel_values):
        out = self.visual(pixel_values, grid_thw=self.grid)
        return out.pooler_output if hasattr(out, "pooler_output") else out


def towers(fixtures):
    import transformers
    from safetensors.torch import load_file
    llava = transformers.LlavaForConditionalGeneration.from_pretrained(os.path.join(fixtures, "llava"), dtype=torch.float32).eval()
    g = load_file(os.path.join(fixtures, "llava", "golden.safetensors"))
    yield "clip", ClipTower(llava.model.vision_tower, llava.config.vision_feature_layer).eval(), g["c0.pixel_values"].float()
    qwen = transformers.Qwen2_5_VLForConditionalGeneration.from_pretrained(os.path.join(fixtures, "qwen2_5_vl"), dtype=torch.float32).eval()
    g = load_file(os.path.join(fixtures, "qwen2_5_vl", "golden.safetensors"))
    yield "qwen", QwenTower(qwen.model.visual, g["c0.image_grid_thw"].long()).eval(), g["c0.pixel_values"].float()


def main():
    fixtures, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    import onnx
    import onnxruntime as ort
    from safetensors.torch import save_file
    report = {"torch": torch.__version__, "onnx": onnx.__version__, "onnxruntime": ort.__version__, "files": {}}
    for name, module, x in towers(fixtures):
        with torch.no_grad():
            y = module(x)
        save_file({"input": x.contiguous(), "output": y.contiguous()}, os.path.join(out, f"{name}-expected.safetensors"))
        variants = {}
        for opset in (17, 14, 13):
            variants[f"opset{opset}"] = dict(opset_version=opset, dynamo=False, do_constant_folding=True)
        variants["dynamo"] = dict(dynamo=True)
        for v, kw in variants.items():
            path = os.path.join(out, f"{name}-{v}.onnx")
            entry = {}
            try:
                torch.onnx.export(module, (x,), path, input_names=["pixel_values"], output_names=["features"], **kw)
                if v == "dynamo":   # keep the weights inside the one file
                    m = onnx.load(path)
                    onnx.save_model(m, path, save_as_external_data=False)
            except Exception as e:
                entry["export_error"] = f"{type(e).__name__}: {e}"[:2000]
            report["files"][os.path.basename(path)] = entry
        base = os.path.join(out, f"{name}-opset14.onnx")
        if os.path.exists(base):
            inferred = os.path.join(out, f"{name}-opset14-inferred.onnx")
            onnx.save(onnx.shape_inference.infer_shapes(onnx.load(base)), inferred)
            report["files"][os.path.basename(inferred)] = {}
            so = ort.SessionOptions()
            so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
            so.optimized_model_filepath = os.path.join(out, f"{name}-opset14-ortbasic.onnx")
            ort.InferenceSession(base, so, providers=["CPUExecutionProvider"])
            report["files"][os.path.basename(so.optimized_model_filepath)] = {}
        for f, entry in report["files"].items():
            path = os.path.join(out, f)
            if not f.startswith(name + "-") or "export_error" in entry or not os.path.exists(path):
                continue
            m = onnx.load(path)
            entry["opset"] = [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")]
            entry["ops"] = sorted({n.op_type for n in m.graph.node})
            entry["bytes"] = os.path.getsize(path)
            try:
                s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
                got = s.run(None, {s.get_inputs()[0].name: x.numpy()})[0]
                entry["ort_max_abs_vs_torch"] = float(abs(torch.from_numpy(got) - y).max())
            except Exception as e:
                entry["ort_error"] = f"{type(e).__name__}: {e}"[:1000]
    with open(os.path.join(out, "onnx_report.json"), "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
