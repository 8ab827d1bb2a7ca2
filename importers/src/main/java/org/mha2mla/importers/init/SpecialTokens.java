package org.mha2mla.importers.init;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.IntNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.config.ConfigException;
import org.mha2mla.importers.config.JsonFields;
import org.mha2mla.importers.family.FamilySpecs;

/**
 * A small tokenizer made to agree with a large model's config.json: every special token the config names by id (the
 * image token, Qwen's vision start/end/pad and video tokens, bos, eos, pad) is moved to that id, in tokenizer.json's
 * {@code model.vocab}, its {@code added_tokens}, its post-processor's template ids, and tokenizer_config.json's
 * {@code added_tokens_decoder}. The other tokens keep their ids, so a tiny BPE tokenizer of a few hundred entries can
 * serve a model with a vocabulary of 152k.
 *
 * <p>Why the model vocab too: the Rust tokenizers library (that transformers and DJL both use) does not keep the ids
 * written in {@code added_tokens}; it gives an added token the id the model vocabulary has for it, else the next free
 * id after the vocabulary. An id like 151655 therefore sticks only when {@code model.vocab} maps the token to it
 * (measured with DJL 0.30: {@code <|image_pad|>} listed only in added_tokens as 151655 encodes to 398).
 */
public final class SpecialTokens {

    /** The config field {@code field} names {@code token} by {@code id}. */
    public record Assignment(String field, String token, int id) {
    }

    private SpecialTokens() {
    }

    /**
     * What {@code config} names: token strings come from tokenizer_config.json (bos/eos/pad_token) and
     * processor_config.json (image_token), with the model family's token where those files say nothing.
     */
    static List<Assignment> of(VlmConfig config, JsonFields raw, JsonNode tokenizerConfig, JsonNode processorConfig) {
        return FamilySpecs.of(config).specialTokens(config, raw, tokenizerConfig, processorConfig);
    }

    /** LLaVA's: {@code image_token_index} and the text model's bos / eos / pad ({@code LlavaFamily}). */
    public static List<Assignment> llava(LlavaConfig l, JsonFields raw, JsonNode tokenizerConfig, JsonNode processorConfig) {
        List<Assignment> out = new ArrayList<>();
        TextConfig text = l.textConfig();
        out.add(new Assignment("image_token_index", text(processorConfig, "image_token", "<image>"), l.imageTokenIndex()));
        Integer pad = raw.has("pad_token_id") ? raw.optionalInteger("pad_token_id") : text.padTokenId();
        addNamed(out, "text_config.bos_token_id", tokenName(tokenizerConfig, "bos_token", null), text.bosTokenId());
        addNamed(out, "text_config.eos_token_id", tokenName(tokenizerConfig, "eos_token", null), firstEos(text));
        addNamed(out, "pad_token_id", tokenName(tokenizerConfig, "pad_token", null), pad);
        return out;
    }

    /** Qwen2.5-VL's: image / video / vision start and end tokens, bos / eos / pad ({@code Qwen25VlFamily}). */
    public static List<Assignment> qwen25Vl(Qwen25VlConfig q, JsonFields raw, JsonNode tokenizerConfig, JsonNode processorConfig) {
        List<Assignment> out = new ArrayList<>();
        TextConfig text = q.textConfig();
        out.add(new Assignment("image_token_id", text(processorConfig, "image_token", "<|image_pad|>"), q.imageTokenId()));
        out.add(new Assignment("video_token_id", text(processorConfig, "video_token", "<|video_pad|>"), q.videoTokenId()));
        out.add(new Assignment("vision_start_token_id", "<|vision_start|>", q.visionStartTokenId()));
        out.add(new Assignment("vision_end_token_id", "<|vision_end|>", q.visionEndTokenId()));
        if (raw.has("vision_token_id")) out.add(new Assignment("vision_token_id", "<|vision_pad|>", raw.integer("vision_token_id", null)));
        // Qwen2's tokenizer has no bos_token; the model's bos_token_id is <|endoftext|>'s id.
        addNamed(out, "bos_token_id", tokenName(tokenizerConfig, "bos_token", "<|endoftext|>"), text.bosTokenId());
        addNamed(out, "eos_token_id", tokenName(tokenizerConfig, "eos_token", "<|im_end|>"), firstEos(text));
        addNamed(out, "pad_token_id", tokenName(tokenizerConfig, "pad_token", null), text.padTokenId());
        return out;
    }

    private static void addNamed(List<Assignment> out, String field, String token, Integer id) {
        if (token != null && id != null) out.add(new Assignment(field, token, id));
    }

    private static Integer firstEos(TextConfig t) {
        return t.eosTokenIds().isEmpty() ? null : t.eosTokenIds().get(0);
    }

    private static String text(JsonNode n, String field, String fallback) {
        JsonNode v = n == null ? null : n.get(field);
        return v != null && v.isTextual() ? v.asText() : fallback;
    }

    /** tokenizer_config.json writes a token as a string or as a serialized AddedToken {"content": ...}; null: absent. */
    private static String tokenName(JsonNode tokenizerConfig, String field, String fallback) {
        JsonNode v = tokenizerConfig == null ? null : tokenizerConfig.get(field);
        if (v == null) return fallback;
        if (v.isTextual()) return v.asText();
        if (v.isObject() && v.has("content")) return v.get("content").asText();
        return fallback; // null in the file: the tokenizer has no such token
    }

    /**
     * Moves the assigned tokens of {@code tokenizer} (a parsed tokenizer.json, changed in place) to their ids and returns
     * the moves made (token → old id). Fails, naming {@code where} and the config field, when a token is missing, when
     * two fields ask one token for different ids or two tokens for one id, when an id is taken by a token that stays,
     * or when an id is outside {@code vocabSize}.
     */
    static Map<String, Integer> remap(ObjectNode tokenizer, List<Assignment> assignments, int vocabSize, String where) {
        JsonNode model = tokenizer.path("model");
        if (!(model.get("vocab") instanceof ObjectNode vocab)) {
            throw new ConfigException(where + ": model.vocab is not a token → id map (model type " + model.path("type").asText("?")
                    + "); only BPE and WordLevel tokenizers can have special tokens moved");
        }
        Map<String, Integer> currentId = new HashMap<>();
        vocab.fields().forEachRemaining(e -> currentId.put(e.getKey(), e.getValue().asInt()));
        for (JsonNode t : tokenizer.path("added_tokens")) currentId.put(t.path("content").asText(), t.path("id").asInt());

        Map<String, Assignment> target = new LinkedHashMap<>();
        Map<Integer, Assignment> byId = new HashMap<>();
        for (Assignment a : assignments) {
            if (!currentId.containsKey(a.token())) {
                throw new ConfigException(where + ": has no token '" + a.token() + "', which config.json's " + a.field() + " names");
            }
            if (a.id() < 0 || a.id() >= vocabSize) {
                throw new ConfigException("config.json: " + a.field() + " = " + a.id() + " is outside the vocabulary (vocab_size " + vocabSize + ")");
            }
            Assignment same = target.get(a.token());
            if (same != null && same.id() != a.id()) {
                throw new ConfigException("config.json: " + same.field() + " = " + same.id() + " and " + a.field() + " = " + a.id()
                        + " both name token '" + a.token() + "'");
            }
            Assignment other = byId.get(a.id());
            if (other != null && !other.token().equals(a.token())) {
                throw new ConfigException("config.json: " + other.field() + " and " + a.field() + " both are " + a.id()
                        + " but name different tokens ('" + other.token() + "', '" + a.token() + "')");
            }
            target.put(a.token(), a);
            byId.put(a.id(), a);
        }
        Map<Integer, String> tokenAt = new HashMap<>();
        currentId.forEach((tok, id) -> tokenAt.put(id, tok));
        Map<String, Integer> moved = new LinkedHashMap<>();
        for (Assignment a : target.values()) {
            String holder = tokenAt.get(a.id());
            if (holder != null && !holder.equals(a.token()) && !target.containsKey(holder)) {
                throw new ConfigException(where + ": id " + a.id() + ", which config.json's " + a.field() + " gives '" + a.token()
                        + "', is taken by token '" + holder + "'");
            }
            int old = currentId.get(a.token());
            if (old != a.id()) moved.put(a.token(), old);
        }
        for (Map.Entry<String, Integer> e : currentId.entrySet()) {
            int id = target.containsKey(e.getKey()) ? target.get(e.getKey()).id() : e.getValue();
            if (id >= vocabSize) {
                throw new ConfigException(where + ": token '" + e.getKey() + "' has id " + id + ", outside config.json's vocab_size " + vocabSize);
            }
        }
        // The model vocabulary holds every added token under its id: the id the tokenizers library will then use.
        for (Assignment a : target.values()) vocab.put(a.token(), a.id());
        for (JsonNode t : tokenizer.path("added_tokens")) {
            Assignment a = target.get(t.path("content").asText());
            if (a != null) ((ObjectNode) t).put("id", a.id());
            if (!vocab.has(t.path("content").asText())) vocab.put(t.path("content").asText(), t.path("id").asInt());
        }
        JsonNode post = tokenizer.get("post_processor");
        if (post != null) remapTemplateIds(post, target);
        return moved;
    }

    /**
     * Post-processors name their special tokens with ids: TemplateProcessing's {@code special_tokens: {name: {ids,
     * tokens}}} and Bert/Roberta's {@code cls/sep: [token, id]}, possibly inside a Sequence.
     */
    private static void remapTemplateIds(JsonNode node, Map<String, Assignment> target) {
        if (node.isObject()) {
            JsonNode ids = node.get("ids");
            JsonNode tokens = node.get("tokens");
            if (ids instanceof ArrayNode idArray && tokens != null && tokens.isArray()) {
                for (int i = 0; i < tokens.size() && i < idArray.size(); i++) {
                    Assignment a = target.get(tokens.get(i).asText());
                    if (a != null) idArray.set(i, IntNode.valueOf(a.id()));
                }
            }
            Iterator<JsonNode> it = node.elements();
            while (it.hasNext()) remapTemplateIds(it.next(), target);
        } else if (node.isArray()) {
            if (node.size() == 2 && node.get(0).isTextual() && node.get(1).isIntegralNumber()) {
                Assignment a = target.get(node.get(0).asText());
                if (a != null) ((ArrayNode) node).set(1, IntNode.valueOf(a.id()));
                return;
            }
            for (JsonNode child : node) remapTemplateIds(child, target);
        }
    }

    /** tokenizer_config.json's {@code added_tokens_decoder} ({id: {content, …}}) with the moved tokens under their new ids. */
    static void remapTokenizerConfig(ObjectNode tokenizerConfig, List<Assignment> assignments) {
        if (!(tokenizerConfig.get("added_tokens_decoder") instanceof ObjectNode decoder)) return;
        Map<String, Integer> idOf = new HashMap<>();
        for (Assignment a : assignments) idOf.put(a.token(), a.id());
        ObjectNode rebuilt = decoder.objectNode();
        decoder.fields().forEachRemaining(e -> {
            Integer id = idOf.get(e.getValue().path("content").asText());
            rebuilt.set(id != null ? Integer.toString(id) : e.getKey(), e.getValue());
        });
        tokenizerConfig.set("added_tokens_decoder", rebuilt);
    }
}
