package org.mha2mla.trainer.pretrain;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.trainer.data.ModelProcessor;
import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.qwen25vl.Qwen25VlTrainingGraph;
import org.mha2mla.layers.text.TextDecoder;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ndarray.INDArray;

class ScratchModelTest {

    static final ScratchModel.Spec SPEC = ScratchModel.Spec.builder().hidden(64).intermediate(96).layers(2).heads(2).kvHeads(1).mropeSection(4, 6, 6).ropeTheta(10.0)
            .visionHidden(32).visionIntermediate(48).visionDepth(2).visionHeads(1).fullattBlockIndexes(List.of(1)).windowSize(112).initializerRange(0.02).build();
    static final WordLevelTokenizer TOKENIZER = WordLevelTokenizer.of(List.of("what", "color", "is", "the", "square", "?", "red"));

    @Test
    void configParsesAsQwen25VlWithTheChosenSizesAndTokenIds(@TempDir Path dir) throws Exception {
        ScratchModel.write(dir, SPEC, TOKENIZER, ScratchModel.initialWeights(SPEC, TOKENIZER.size(), 1));
        Qwen25VlConfig c = (Qwen25VlConfig) HfConfigParser.read(dir);
        TextConfig t = c.textConfig();
        assertEquals(64, t.hiddenSize());
        assertEquals(2, t.numAttentionHeads());
        assertEquals(1, t.numKeyValueHeads());
        assertEquals(32, t.headDim());
        assertArrayEquals(new int[] {4, 6, 6}, t.mropeSection());
        assertEquals(TOKENIZER.size(), t.vocabSize());
        assertEquals(List.of(TOKENIZER.id(WordLevelTokenizer.IM_END)), t.eosTokenIds());
        assertEquals(TOKENIZER.id(WordLevelTokenizer.IMAGE_PAD), c.imageTokenId());
        assertEquals(TOKENIZER.id(WordLevelTokenizer.VISION_START), c.visionStartTokenId());
        assertEquals(TOKENIZER.id(WordLevelTokenizer.VISION_END), c.visionEndTokenId());
        assertEquals(TOKENIZER.id(WordLevelTokenizer.VIDEO_PAD), c.videoTokenId());
        assertEquals(64, c.visionConfig().outHiddenSize());
        assertEquals(List.of(1), c.visionConfig().fullattBlockIndexes());
        // The fields transformers' Qwen2_5_VLConfig reads, in the hub's flat layout (as the fixture's config.json).
        JsonNode json = new ObjectMapper().readTree(dir.resolve("config.json").toFile());
        for (String f : List.of("architectures", "model_type", "hidden_size", "intermediate_size", "num_hidden_layers",
                "num_attention_heads", "num_key_value_heads", "rms_norm_eps", "rope_theta", "vocab_size", "rope_scaling",
                "vision_config", "image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id",
                "tie_word_embeddings", "max_window_layers", "use_sliding_window", "torch_dtype")) {
            assertTrue(json.has(f), "config.json lacks " + f);
        }
        assertEquals("mrope", json.get("rope_scaling").get("type").asText());
        for (String f : List.of("config.json", "generation_config.json", "model.safetensors", "tokenizer.json",
                "tokenizer_config.json", "chat_template.jinja", "preprocessor_config.json", "processor_config.json")) {
            assertTrue(Files.isRegularFile(dir.resolve(f)), f);
        }
    }

    @Test
    void initialisationIsHuggingFacesAndDeterministic() {
        Map<String, INDArray> w = ScratchModel.initialWeights(SPEC, TOKENIZER.size(), 5);
        Map<String, INDArray> again = ScratchModel.initialWeights(SPEC, TOKENIZER.size(), 5);
        Map<String, INDArray> other = ScratchModel.initialWeights(SPEC, TOKENIZER.size(), 6);
        assertEquals(w.keySet(), again.keySet());
        w.forEach((k, v) -> assertEquals(v, again.get(k), k));
        INDArray q = w.get("model.layers.0.self_attn.q_proj.weight");
        assertEquals(0.02, q.stdNumber().doubleValue(), 0.002);
        assertEquals(0.0, q.meanNumber().doubleValue(), 0.002);
        assertTrue(q.sub(other.get("model.layers.0.self_attn.q_proj.weight")).amaxNumber().doubleValue() > 0.01);
        assertEquals(1.0, w.get("model.norm.weight").minNumber().doubleValue());
        assertEquals(1.0, w.get("visual.merger.ln_q.weight").maxNumber().doubleValue());
        assertEquals(0.0, w.get("visual.blocks.0.attn.qkv.bias").amaxNumber().doubleValue());
        assertArrayEquals(new long[] {32, 3, 2, 14, 14}, w.get("visual.patch_embed.proj.weight").shape());
        assertArrayEquals(new long[] {64, 32 * 4}, w.get("visual.merger.mlp.2.weight").shape());
    }

    /** Logits of the in-memory weights (training graph) before saving equal the importer's inference graphs after loading. */
    @Test
    void theSavedFolderRoundTripsThroughTheImporter(@TempDir Path dir) {
        Map<String, INDArray> w = ScratchModel.initialWeights(SPEC, TOKENIZER.size(), 9);
        // Larger weights than the init so the logits vary by more than float noise.
        w.replaceAll((k, v) -> k.endsWith("norm.weight") || k.contains("layernorm") || k.contains("norm1") || k.contains("norm2")
                || k.contains("ln_q") ? v : v.mul(5));
        ScratchModel.write(dir, SPEC, TOKENIZER, w);
        Qwen25VlConfig config = (Qwen25VlConfig) HfConfigParser.read(dir);
        SameDiff sd = SameDiff.create();
        w.forEach((k, v) -> sd.var(k, v.dup()));
        Qwen25VlTrainingGraph graph = new Qwen25VlTrainingGraph(config, sd);
        BufferedImage img = new BufferedImage(112, 112, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 112; y++) for (int x = 0; x < 112; x++) img.setRGB(x, y, (x * 2 << 16) | (y * 2 << 8) | ((x + y) & 0xff));
        try (ModelProcessor p = ModelProcessor.load(dir); VisionLanguageModel loaded = VlmLoader.load(dir)) {
            MultimodalInput in = p.prompt("What color is the square?", img);
            INDArray before = sd.output(graph.feed(List.of(in)), TextDecoder.LOGITS).get(TextDecoder.LOGITS);
            INDArray after = loaded.logits(in);
            double err = before.reshape(after.shape()).sub(after).amaxNumber().doubleValue();
            System.out.printf("scratch model round trip: max |Δ logits| %.3e (max |logit| %.3e)%n", err, after.amaxNumber().doubleValue());
            assertTrue(err <= 1e-5, "round-trip logits differ by " + err);
            assertTrue(after.amaxNumber().doubleValue() > 1e-2);
        }
    }

    @Test
    void inconsistentSizesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> SPEC.toBuilder().heads(3).build());
        assertThrows(IllegalArgumentException.class, () -> SPEC.toBuilder().mropeSection(4, 6, 5).build());
    }
}
