# Written by mha2mla-vlm4j (TransformersExport) into every converted model folder; config.json's auto_map points here.
"""MHA2MLA-VLM models for transformers: LLaVA-1.5, LLaVA-NeXT and Qwen2.5-VL whose decoder attention was converted by
mha2mla-vlm4j, as its config.json's "mha2mla" section describes:

    "mha2mla": {"step": "rope" | "svd" | "all", "strategy": "mkl", "d_r": 4, "d_kv": 4, "svd": "md", "decoupled": true,
                "kept_pairs": [[[p, …] per KV head] per layer]}      (pair p = dims {p, p + d_h/2}, rotate_half layout)

step "rope" is partial RoPE (the original q/k/v/o weights, RoPE on the kept pairs only, full K/V cache); "svd"/"all"
is multi-head latent attention. Weights per decoder layer, under ….layers.N.self_attn (as the Java MlaAttention):

    q_proj.{weight,bias}             [n_h·d_h, d]    each head's rows ordered [d_r rope dims ; d_h − d_r NoPE dims]
    k_rope_proj.{weight,bias}        [n_kv·d_r, d]   the kept rows of W_k (pair i of a head = dims {i, i + d_r/2})
    kv_down_proj{.text,.visual}.weight  [rank, d]                 W_dkv[m], rank = n_kv·d_kv
    k_up_proj{.text,.visual}.weight     [n_kv·(d_h − d_r), rank]  W_uk[m]   (absent when d_r = d_h)
    v_up_proj{.text,.visual}.weight     [n_kv·d_h, rank]          W_uv[m]
    k_nope_bias [n_kv·(d_h − d_r)], v_bias [n_kv·d_h]  (models with k/v biases), o_proj as before

The .text/.visual pairs exist for modality-decoupled factors (MD-SVD, "decoupled": true): a token's modality picks its
pair — LLaVA: the image tokens are visual; Qwen2.5-VL: the image pads and the vision start/end marks (as MHA2MLA-VLM
counts them). The modality is read from input_ids at every forward pass, generated tokens included.

Cache: the model's own DynamicCache, holding per layer the latent instead of K/V: "keys" = [c_kv ; modality]
[B, 1, T, rank + 1] (one latent shared by all heads, the 0/1 modality flag in the last slot) and "values" = k_rope
[B, n_kv, T, d_r] (rotated). Each pass up-projects the cached latent of every token with its own modality's factors.

Load with AutoModelForImageTextToText.from_pretrained(folder, trust_remote_code=True) (or the classes below). The
folder keeps the hub's key names (language_model.model.*, model.*, visual.*); loading reads the safetensors files
directly and maps them onto the modules, every tensor accounted for.
"""
import json
import math
import os

import torch
from torch import nn
from transformers import (
    GenerationConfig,
    LlavaForConditionalGeneration,
    LlavaNextForConditionalGeneration,
    Qwen2_5_VLForConditionalGeneration,
)

MODALITIES = ("text", "visual")


def rotate_half(x):
    """[x1, x2] → [−x2, x1] over the last axis (transformers' RoPE layout)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat((-x2, x1), dim=-1)


def kept_dims(pairs, head_dim):
    """The rotated dims of one head in cache order [p_0 … p_{r−1}, p_0 + d_h/2 … p_{r−1} + d_h/2]."""
    return list(pairs) + [p + head_dim // 2 for p in pairs]


def attend(q, k, v, attention_mask, groups):
    """Grouped softmax(q·kᵀ/√d_h + mask)·v: q [B, n_h, L, d_h], k/v [B, n_kv, T, d_h] → [B, L, n_h·d_h]."""
    b, _, length, d_h = q.shape
    t = k.shape[2]
    k = k.repeat_interleave(groups, dim=1)
    v = v.repeat_interleave(groups, dim=1)
    scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(d_h)
    if attention_mask is None:       # transformers leaves it out when plain causal masking is all that is needed
        allowed = torch.ones(length, t, dtype=torch.bool, device=q.device).tril(t - length)
        scores = scores.masked_fill(~allowed, float("-inf"))
    elif attention_mask.dtype == torch.bool:
        scores = scores.masked_fill(~attention_mask[..., :t], float("-inf"))
    else:
        scores = scores + attention_mask[..., :t]
    probs = torch.softmax(scores.float(), dim=-1).to(v.dtype)
    return torch.matmul(probs, v).transpose(1, 2).reshape(b, length, -1)


class TokenModality:
    """The modality (1 = visual) of the tokens of the current forward pass, [B, L], shared by every attention layer."""

    def __init__(self, visual_ids):
        self.visual_ids = sorted(set(int(i) for i in visual_ids if i is not None))
        self.current = None

    def set_from(self, input_ids):
        if input_ids is None:
            self.current = None
            return
        visual = torch.zeros_like(input_ids, dtype=torch.bool)
        for i in self.visual_ids:
            visual |= input_ids == i
        self.current = visual

    def of(self, batch, length, device):
        if self.current is None:
            raise ValueError("mha2mla: modality-decoupled attention needs input_ids (each token's modality picks its "
                             "factors); this forward pass got inputs_embeds only")
        if tuple(self.current.shape) != (batch, length):
            raise ValueError(f"mha2mla: token modality {tuple(self.current.shape)} does not match the pass [{batch}, {length}]")
        return self.current.to(device)


class PartialRopeAttention(nn.Module):
    """Step rope: the original GQA attention (its own q/k/v/o) rotating only the kept pairs of each KV head, the query
    heads of a group sharing their KV head's pairs; NoPE dims are not rotated (cos 1, sin 0). Full K/V cache."""

    def __init__(self, text_config, conversion, layer_idx, stock):
        super().__init__()
        self.layer_idx = layer_idx
        self.n_h = text_config.num_attention_heads
        self.n_kv = text_config.num_key_value_heads
        self.d_h = getattr(text_config, "head_dim", None) or text_config.hidden_size // self.n_h
        self.q_proj, self.k_proj, self.v_proj, self.o_proj = stock.q_proj, stock.k_proj, stock.v_proj, stock.o_proj
        keep = torch.zeros(self.n_kv, self.d_h)
        for j, pairs in enumerate(conversion["kept_pairs"][layer_idx]):
            keep[j, kept_dims(pairs, self.d_h)] = 1.0
        self.register_buffer("keep_k", keep[None, :, None, :], persistent=False)                       # [1, n_kv, 1, d_h]
        self.register_buffer("keep_q", keep.repeat_interleave(self.n_h // self.n_kv, 0)[None, :, None, :], persistent=False)

    def forward(self, hidden_states, position_embeddings=None, attention_mask=None, past_key_values=None, **kwargs):
        b, length, _ = hidden_states.shape
        cos, sin = position_embeddings
        cos, sin = cos[:, None], sin[:, None]                                                          # [B, 1, L, d_h]
        q = self.q_proj(hidden_states).view(b, length, self.n_h, self.d_h).transpose(1, 2)
        k = self.k_proj(hidden_states).view(b, length, self.n_kv, self.d_h).transpose(1, 2)
        v = self.v_proj(hidden_states).view(b, length, self.n_kv, self.d_h).transpose(1, 2)
        q = q * (cos * self.keep_q + 1 - self.keep_q) + rotate_half(q) * (sin * self.keep_q)
        k = k * (cos * self.keep_k + 1 - self.keep_k) + rotate_half(k) * (sin * self.keep_k)
        if past_key_values is not None:
            k, v = past_key_values.update(k, v, self.layer_idx)
        out = attend(q, k, v, attention_mask, self.n_h // self.n_kv)
        return self.o_proj(out), None


class MlaAttention(nn.Module):
    """Multi-head latent attention converted from a GQA layer (MHA2MLA-VLM), the weights of the module docstring:
    q from W_q with RoPE on its first d_r dims per head; k_rope from the kept rows of W_k with RoPE; the latent
    c_kv = W_dkv[m]·x of each token's modality m; k_nope = W_uk[m]·c_kv + b, v = W_uv[m]·c_kv + b; then grouped
    attention over k = [k_rope ; k_nope]. The cache holds c_kv (with the modality flag) and k_rope only."""

    def __init__(self, text_config, conversion, layer_idx, stock, modality):
        super().__init__()
        self.layer_idx = layer_idx
        self.modality = modality
        self.n_h = text_config.num_attention_heads
        self.n_kv = text_config.num_key_value_heads
        d = text_config.hidden_size
        self.d_h = getattr(text_config, "head_dim", None) or d // self.n_h
        self.d_r = int(conversion["d_r"])
        self.d_nope = self.d_h - self.d_r
        self.rank = self.n_kv * int(conversion["d_kv"])
        self.decoupled = bool(conversion.get("decoupled", conversion.get("svd") == "md"))
        bias = stock.q_proj.bias is not None
        self.q_proj = nn.Linear(d, self.n_h * self.d_h, bias=bias)
        self.k_rope_proj = nn.Linear(d, self.n_kv * self.d_r, bias=bias)

        def per_modality(make):
            return nn.ModuleDict({m: make() for m in MODALITIES}) if self.decoupled else make()

        self.kv_down_proj = per_modality(lambda: nn.Linear(d, self.rank, bias=False))
        if self.d_nope > 0:
            self.k_up_proj = per_modality(lambda: nn.Linear(self.rank, self.n_kv * self.d_nope, bias=False))
        self.v_up_proj = per_modality(lambda: nn.Linear(self.rank, self.n_kv * self.d_h, bias=False))
        if bias and self.d_nope > 0:
            self.k_nope_bias = nn.Parameter(torch.zeros(self.n_kv * self.d_nope))
        if bias:
            self.v_bias = nn.Parameter(torch.zeros(self.n_kv * self.d_h))
        self.o_proj = stock.o_proj
        dims = [kept_dims(pairs, self.d_h) for pairs in conversion["kept_pairs"][layer_idx]]
        groups = self.n_h // self.n_kv
        self.register_buffer("rope_dims_k", torch.tensor(dims), persistent=False)                      # [n_kv, d_r]
        self.register_buffer("rope_dims_q", torch.tensor(dims).repeat_interleave(groups, 0), persistent=False)

    def up(self, proj, c, visual):
        """proj[m](c) for each token's modality m (visual: [B, T] bool), or the one shared projection."""
        if not self.decoupled:
            return proj(c)
        return torch.where(visual[..., None], proj["visual"](c), proj["text"](c))

    def forward(self, hidden_states, position_embeddings=None, attention_mask=None, past_key_values=None, **kwargs):
        b, length, _ = hidden_states.shape
        cos, sin = position_embeddings                                                                 # [B, L, d_h]
        q = self.q_proj(hidden_states).view(b, length, self.n_h, self.d_h).transpose(1, 2)
        q_rope, q_nope = q[..., : self.d_r], q[..., self.d_r:]
        cos_q, sin_q = (t[:, :, self.rope_dims_q].permute(0, 2, 1, 3) for t in (cos, sin))             # [B, n_h, L, d_r]
        cos_k, sin_k = (t[:, :, self.rope_dims_k].permute(0, 2, 1, 3) for t in (cos, sin))             # [B, n_kv, L, d_r]
        q_rope = q_rope * cos_q + rotate_half(q_rope) * sin_q
        k_rope = self.k_rope_proj(hidden_states).view(b, length, self.n_kv, self.d_r).transpose(1, 2)
        k_rope = k_rope * cos_k + rotate_half(k_rope) * sin_k

        visual = (self.modality.of(b, length, hidden_states.device) if self.decoupled
                  else torch.zeros(b, length, dtype=torch.bool, device=hidden_states.device))
        c = self.up(self.kv_down_proj, hidden_states, visual)                                         # [B, L, rank]
        if past_key_values is not None:
            latent = torch.cat([c, visual[..., None].to(c.dtype)], dim=-1)[:, None]                    # [B, 1, L, rank + 1]
            latent, k_rope = past_key_values.update(latent, k_rope, self.layer_idx)
            c, visual = latent[:, 0, :, : self.rank], latent[:, 0, :, self.rank] > 0.5                 # all T tokens

        t = c.shape[1]
        v = self.up(self.v_up_proj, c, visual)
        if hasattr(self, "v_bias"):
            v = v + self.v_bias
        v = v.view(b, t, self.n_kv, self.d_h).transpose(1, 2)
        k = k_rope
        if self.d_nope > 0:
            k_nope = self.up(self.k_up_proj, c, visual)
            if hasattr(self, "k_nope_bias"):
                k_nope = k_nope + self.k_nope_bias
            k_nope = k_nope.view(b, t, self.n_kv, self.d_nope).transpose(1, 2)
            k = torch.cat([k_rope, k_nope], dim=-1)
            q = torch.cat([q_rope, q_nope], dim=-1)
        else:
            q = q_rope
        out = attend(q, k, v, attention_mask, self.n_h // self.n_kv)
        return self.o_proj(out), None


class Mha2MlaMixin:
    """Replaces the decoder attention of a stock model by the converted one and loads the folder's safetensors."""

    # (hub prefix, module prefix) pairs, first match wins; keys already under a module prefix are kept
    _hub_prefixes = ()
    _module_prefixes = ()

    def _mha2mla_init(self, config):
        self.mha2mla = getattr(config, "mha2mla", None)
        if not self.mha2mla:
            return   # an unconverted folder: the stock model
        if isinstance(self.mha2mla, str):
            self.mha2mla = json.loads(self.mha2mla)
        text_config = config.get_text_config()
        layers = self.model.language_model.layers
        if len(self.mha2mla["kept_pairs"]) != len(layers):
            raise ValueError(f"mha2mla.kept_pairs lists {len(self.mha2mla['kept_pairs'])} layers, the model has {len(layers)}")
        self._mha2mla_modality = TokenModality(self._visual_token_ids(config))
        for i, layer in enumerate(layers):
            if self.mha2mla["step"] == "rope":
                layer.self_attn = PartialRopeAttention(text_config, self.mha2mla, i, layer.self_attn)
            else:
                layer.self_attn = MlaAttention(text_config, self.mha2mla, i, layer.self_attn, self._mha2mla_modality)
        # the modality of a pass lives from the top-level forward's input_ids until that forward returns
        self.register_forward_pre_hook(self._mha2mla_read_ids, with_kwargs=True)
        self.register_forward_hook(lambda module, args, output: self._mha2mla_modality.set_from(None))

    def _mha2mla_read_ids(self, module, args, kwargs):
        ids = kwargs.get("input_ids", args[0] if args else None)
        self._mha2mla_modality.set_from(ids)

    @classmethod
    def _module_key(cls, key):
        if key.startswith(cls._module_prefixes):
            return key
        for hub, module in cls._hub_prefixes:
            if key.startswith(hub):
                return module + key[len(hub):]
        return key

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *model_args, config=None, dtype=None, torch_dtype=None, **kwargs):
        from safetensors.torch import load_file

        path = str(pretrained_model_name_or_path)
        if not os.path.isdir(path):
            from huggingface_hub import snapshot_download
            path = snapshot_download(path, **{k: kwargs[k] for k in ("revision", "token", "cache_dir") if k in kwargs})
        if config is None:
            config = cls.config_class.from_pretrained(path)
        dtype = dtype if dtype is not None else torch_dtype
        if dtype is None or dtype == "auto":
            dtype = torch.float32
        elif isinstance(dtype, str):
            dtype = getattr(torch, dtype)
        model = cls(config)
        index = os.path.join(path, "model.safetensors.index.json")
        if os.path.exists(index):
            with open(index) as f:
                files = sorted(set(json.load(f)["weight_map"].values()))
        else:
            files = ["model.safetensors"]
        names = {k for k, _ in model.named_parameters()} | {k for k, _ in model.named_buffers()}
        state = {}
        for name in files:
            for k, v in load_file(os.path.join(path, name)).items():
                key = cls._module_key(k)
                if key not in names:   # CLIP's vision_model level: in the hub keys, not in transformers 5's module tree
                    key = min((c for c in (key.replace(".vision_model.", ".", 1), key.replace("vision_tower.", "vision_tower.vision_model.", 1))
                               if c in names), default=key)
                state[key] = v
        result = model.load_state_dict(state, strict=False)
        missing = set(result.missing_keys)
        if getattr(config.get_text_config(), "tie_word_embeddings", False) or getattr(config, "tie_word_embeddings", False):
            missing.discard("lm_head.weight")
        if missing or result.unexpected_keys:
            raise ValueError(f"mha2mla: {path}: the checkpoint does not fit the model: missing {sorted(missing)[:8]}, "
                             f"unexpected {sorted(result.unexpected_keys)[:8]}")
        if "lm_head.weight" in result.missing_keys:
            model.tie_weights()
        if os.path.exists(os.path.join(path, "generation_config.json")):
            model.generation_config = GenerationConfig.from_pretrained(path)
        model.config._name_or_path = path
        return model.to(dtype).eval()


LLAVA_HUB_PREFIXES = (
    ("language_model.model.", "model.language_model."),
    ("language_model.lm_head.", "lm_head."),
    ("vision_tower.", "model.vision_tower."),
    ("multi_modal_projector.", "model.multi_modal_projector."),
    ("image_newline", "model.image_newline"),
)
LLAVA_MODULE_PREFIXES = ("model.language_model.", "model.vision_tower.", "model.multi_modal_projector.", "model.image_newline",
                         "lm_head.")


class Mha2MlaLlavaForConditionalGeneration(Mha2MlaMixin, LlavaForConditionalGeneration):
    _hub_prefixes = LLAVA_HUB_PREFIXES
    _module_prefixes = LLAVA_MODULE_PREFIXES

    def __init__(self, config):
        super().__init__(config)
        self._mha2mla_init(config)

    @staticmethod
    def _visual_token_ids(config):
        return [getattr(config, "image_token_id", None), getattr(config, "image_token_index", None)]


class Mha2MlaLlavaNextForConditionalGeneration(Mha2MlaMixin, LlavaNextForConditionalGeneration):
    _hub_prefixes = LLAVA_HUB_PREFIXES
    _module_prefixes = LLAVA_MODULE_PREFIXES

    def __init__(self, config):
        super().__init__(config)
        self._mha2mla_init(config)

    @staticmethod
    def _visual_token_ids(config):
        return [getattr(config, "image_token_id", None), getattr(config, "image_token_index", None)]


class Mha2MlaQwen2_5_VLForConditionalGeneration(Mha2MlaMixin, Qwen2_5_VLForConditionalGeneration):
    _hub_prefixes = (("visual.", "model.visual."), ("model.", "model.language_model."))
    _module_prefixes = ("model.language_model.", "model.visual.", "lm_head.")

    def __init__(self, config):
        super().__init__(config)
        self._mha2mla_init(config)

    @staticmethod
    def _visual_token_ids(config):
        return [config.image_token_id, config.vision_start_token_id, config.vision_end_token_id]
