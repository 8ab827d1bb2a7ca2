package org.mha2mla.importers.weights;

import org.mha2mla.core.tensor.StoredTensor;
import org.mha2mla.importers.family.FamilySpecs;
import org.mha2mla.importers.safetensors.SafeTensorsException;
import org.mha2mla.importers.safetensors.TensorInfo;
import org.nd4j.linalg.api.ndarray.INDArray;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.UnaryOperator;

/**
 * Checkpoint key layouts. The canonical names in this project are the HUB layout, the one the published
 * checkpoints use (the test fixtures too, except that their CLIP keys lack {@code vision_model}, see below):
 * <pre>
 *   LLaVA / LLaVA-NeXT: language_model.model.layers.N…, language_model.lm_head.weight, vision_tower.vision_model…,
 *                       multi_modal_projector.linear_1…, image_newline
 *   Qwen2-VL / 2.5-VL:  model.layers.N…, model.embed_tokens.weight, model.norm.weight, lm_head.weight,
 *                       visual.blocks.N…, visual.patch_embed…, visual.merger…
 * </pre>
 * transformers ≥ 4.52 saves the NEW layout instead. The renames are exactly the class attribute
 * {@code _checkpoint_conversion_mapping} that transformers applies when loading a hub checkpoint
 * (LlavaForConditionalGeneration, LlavaNextForConditionalGeneration, Qwen2_5_VLForConditionalGeneration in
 * huggingface/transformers):
 * <pre>
 *   llava(_next): ^language_model.model → model.language_model, ^vision_tower → model.vision_tower,
 *                 ^multi_modal_projector → model.multi_modal_projector, ^image_newline → model.image_newline,
 *                 ^language_model.lm_head → lm_head
 *   qwen2(_5)_vl: ^visual → model.visual, ^model(?!\.(language_model|visual)) → model.language_model
 * </pre>
 * Each family's {@code FamilySpec.keyLayout()} holds its renames ({@link Rules}); the methods here take a model_type.
 * {@link #canonical} detects the layout of a checkpoint and presents hub names (a renaming view, no copies);
 * {@link #toNew}/{@link #newLayout} go the other way for writing checkpoints newer transformers expect.
 * LLaVA's CLIP tower is canonically {@code vision_tower.vision_model.…} (as on the hub); the spelling without
 * {@code vision_model} that transformers 5.x writes is accepted and renamed.
 */
public final class KeyLayout {
    public enum Layout { HUB, NEW }

    /** One prefix rename, hub ↔ new. A prefix without a trailing dot is a whole key (image_newline). */
    public record Rule(String hub, String newer) {
    }

    /**
     * A family's key layout ({@code FamilySpec.keyLayout()}): its renames; the prefixes only new-layout keys start with
     * (left alone when renaming hub keys, as a negative lookahead in transformers' pattern does); and a level the
     * canonical names insert after a prefix when a checkpoint lacks it (LLaVA's CLIP {@code vision_model}), or nulls.
     */
    public record Rules(List<Rule> rules, List<String> newOnlyPrefixes, String insertAfter, String inserted) {
        public Rules {
            rules = List.copyOf(rules);
            newOnlyPrefixes = List.copyOf(newOnlyPrefixes);
        }
    }

    private static Rules rulesOf(String modelType) {
        if (modelType == null) throw new IllegalArgumentException("model type is null");
        if (!FamilySpecs.supports(modelType)) {
            throw new IllegalArgumentException("no key layout known for model_type '" + modelType + "' (known: " + FamilySpecs.known() + ")");
        }
        return FamilySpecs.of(modelType).keyLayout();
    }

    private KeyLayout() {
    }

    /**
     * Canonical (hub) name of a key in either layout, or null when the key belongs to neither layout of the
     * family. Keys are unambiguous per family (the hub and new prefixes are disjoint, apart from Qwen's
     * lm_head which is the same in both), so no layout detection is needed for one key.
     */
    public static String toCanonical(String key, String modelType) {
        Rules f = rulesOf(modelType);
        String hub = rename(key, f, Layout.NEW);
        if (hub == null && rename(key, f, Layout.HUB) != null) hub = key;
        return hub == null ? null : withClipVisionModel(hub, f);
    }

    /** New-layout name (transformers ≥ 4.52 save_pretrained) of a canonical key; null for a foreign key. */
    public static String toNew(String canonicalKey, String modelType) {
        Rules f = rulesOf(modelType);
        if (rename(canonicalKey, f, Layout.HUB) == null) return null;
        return rename(withClipVisionModel(canonicalKey, f), f, Layout.HUB);
    }

    /**
     * The hub llava-hf checkpoints hold the CLIP tower as CLIPVisionModel, i.e. {@code vision_tower.vision_model.…};
     * checkpoints saved by transformers 5.x (the test fixtures among them) drop the {@code vision_model} level
     * ({@code vision_tower.embeddings…}, and in memory {@code model.vision_tower.encoder…}). Canonical names
     * always carry it ({@link Rules#inserted()}), so model code reads one spelling.
     */
    private static String withClipVisionModel(String hubKey, Rules f) {
        String after = f.insertAfter();
        if (after != null && hubKey.startsWith(after) && !hubKey.startsWith(after + f.inserted())) {
            return after + f.inserted() + hubKey.substring(after.length());
        }
        return hubKey;
    }

    private static String rename(String key, Rules f, Layout from) {
        // e.g. Qwen: keys under model.language_model. / model.visual. are new-layout keys, which the negative
        // lookahead of transformers' pattern ^model(?!\.(language_model|visual)) leaves alone.
        if (from == Layout.HUB) {
            for (String p : f.newOnlyPrefixes()) if (key.startsWith(p)) return null;
        }
        for (Rule r : f.rules()) {
            String fromPrefix = from == Layout.HUB ? r.hub : r.newer;
            String toPrefix = from == Layout.HUB ? r.newer : r.hub;
            if (matches(key, fromPrefix)) return toPrefix + key.substring(fromPrefix.length());
        }
        return null;
    }

    private static boolean matches(String key, String prefix) {
        return prefix.endsWith(".") ? key.startsWith(prefix) : key.equals(prefix);
    }

    /**
     * Which layout these keys are in: HUB when every key is a hub key of the family, else NEW when every key is
     * a new-layout key (keys valid in both, like Qwen's lm_head.weight, read the same either way). Throws,
     * naming {@code where} and example keys, when neither fits (wrong model type, a mix of layouts, foreign keys).
     */
    public static Layout detect(Set<String> keys, String modelType, String where) {
        Rules f = rulesOf(modelType);
        List<String> notHub = new ArrayList<>(), notNew = new ArrayList<>();
        for (String k : keys) {
            if (rename(k, f, Layout.HUB) == null) notHub.add(k);
            if (rename(k, f, Layout.NEW) == null) notNew.add(k);
        }
        if (!keys.isEmpty() && notHub.isEmpty()) return Layout.HUB;
        if (!keys.isEmpty() && notNew.isEmpty()) return Layout.NEW;
        throw new SafeTensorsException(where + ": keys match neither the hub nor the new transformers layout of "
                + modelType + " (" + keys.size() + " keys, e.g. " + Checkpoint.examples(keys)
                + "; not hub-layout: " + head(notHub) + "; not new-layout: " + head(notNew)
                + "; hub prefixes " + prefixes(f, Layout.HUB) + ", new prefixes " + prefixes(f, Layout.NEW) + ")");
    }

    private static String head(List<String> l) {
        if (l.isEmpty()) return "none";
        return (l.size() > 3 ? l.subList(0, 3) + " and " + (l.size() - 3) + " more" : l.toString());
    }

    private static List<String> prefixes(Rules f, Layout l) {
        List<String> p = new ArrayList<>();
        for (Rule r : f.rules()) p.add(l == Layout.HUB ? r.hub : r.newer);
        return p;
    }

    /**
     * The source under canonical (hub) names: itself when every key already is canonical, else a renaming view
     * (no tensor is read or copied). Throws when the keys fit neither layout of the model type.
     */
    public static TensorSource canonical(TensorSource src, String modelType) {
        detect(src.names(), modelType, src.description());
        return view(src, k -> toCanonical(k, modelType), "canonical names of ");
    }

    /** A source under the new layout's names, e.g. to write a checkpoint as transformers ≥ 4.52 saves it. */
    public static TensorSource newLayout(TensorSource src, String modelType) {
        detect(src.names(), modelType, src.description());
        return view(src, k -> toNew(toCanonical(k, modelType), modelType), "new-layout names of ");
    }

    private static TensorSource view(TensorSource src, UnaryOperator<String> rename, String label) {
        Map<String, String> toOriginal = new LinkedHashMap<>();
        boolean identity = true;
        for (String k : src.names()) {
            String n = rename.apply(k);
            String clash = toOriginal.put(n, k);
            if (clash != null) {
                throw new SafeTensorsException(src.description() + ": keys '" + clash + "' and '" + k
                        + "' both map to '" + n + "' (the checkpoint mixes two layouts)");
            }
            identity &= n.equals(k);
        }
        return identity ? src : new Renamed(src, toOriginal, label);
    }

    /** Read-through view: every call maps the presented name back to the source's own key. */
    private static final class Renamed implements TensorSource {
        private final TensorSource src;
        private final Map<String, String> toOriginal;
        private final String label;

        Renamed(TensorSource src, Map<String, String> toOriginal, String label) {
            this.src = src;
            this.toOriginal = Collections.unmodifiableMap(toOriginal);
            this.label = label + src.description();
        }

        private String original(String name) {
            String o = toOriginal.get(name);
            if (o == null) {
                throw new SafeTensorsException(label + ": no tensor '" + name + "' (" + toOriginal.size()
                        + " tensors, e.g. " + Checkpoint.examples(toOriginal.keySet()) + ")");
            }
            return o;
        }

        @Override
        public Set<String> names() {
            return toOriginal.keySet();
        }

        @Override
        public TensorInfo info(String name) {
            TensorInfo t = src.info(original(name));
            return new TensorInfo(name, t.dtype(), t.shape(), t.begin(), t.end());
        }

        @Override
        public INDArray get(String name) {
            return src.get(original(name));
        }

        @Override
        public StoredTensor stored(String name) {
            return src.stored(original(name));
        }

        @Override
        public long[] getLongs(String name) {
            return src.getLongs(original(name));
        }

        @Override
        public boolean contains(String name) {
            return toOriginal.containsKey(name);
        }

        @Override
        public String description() {
            return label;
        }

        @Override
        public void close() {
            src.close();
        }
    }
}
