package org.mha2mla.importers.init;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.importers.config.ConfigException;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.importers.tokenizer.HfTokenizer;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.fixtures.Fixtures;

class ModelInitializerTest {

    static final Path FIXTURES = Fixtures.hfRoot();
    static final String[] FAMILIES = {"llava", "llava_next", "qwen2_5_vl"};

    private static ModelInitializer.Options.Builder options(String config, Path out) {
        return ModelInitializer.Options.builder().config(config).out(out).progress(false);
    }

    private static String fixtureConfig(String family) {
        return FIXTURES.resolve(family).resolve("config.json").toString();
    }

    private static byte[] header(Path file) throws IOException {
        byte[] all = Files.readAllBytes(file);
        long n = ByteBuffer.wrap(all, 0, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        return Arrays.copyOf(all, (int) (8 + n));
    }

    /**
     * Each fixture's own config.json gives exactly its model.safetensors header (tensor names, dtypes, shapes, offsets,
     * metadata): what transformers 5.17's from_config + save_pretrained wrote for it.
     */
    @Test
    void fixtureConfigsGiveTheFixturesTensorLayout(@TempDir Path tmp) throws IOException {
        for (String family : FAMILIES) {
            Path out = tmp.resolve(family);
            ModelInitializer.Result r = ModelInitializer.run(options(fixtureConfig(family), out).build());
            assertEquals(List.of("model.safetensors"), r.weightFiles(), family);
            assertArrayEquals(header(FIXTURES.resolve(family).resolve("model.safetensors")), header(out.resolve("model.safetensors")), family);
            for (String f : new String[]{"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json",
                    "chat_template.jinja", "preprocessor_config.json", "processor_config.json"}) {
                assertTrue(Files.isRegularFile(out.resolve(f)), family + " " + f);
            }
            // the fixture's tokenizer already has the config's ids: copied byte for byte
            assertEquals(Files.readString(FIXTURES.resolve(family).resolve("tokenizer.json")), Files.readString(out.resolve("tokenizer.json")));
            assertEquals(Files.readString(FIXTURES.resolve(family).resolve("config.json")), Files.readString(out.resolve("config.json")));
        }
    }

    /**
     * save_pretrained's max_shard_size rule on a small limit: shards cut in state-dict order, each closed only when the
     * next tensor would overflow it, and the index read back by the project's Checkpoint with the values of a one-file save.
     */
    @Test
    void smallShardSizeGivesShardsTheProjectReadsBackIdentically(@TempDir Path tmp) throws IOException {
        long max = 100_000;
        Path sharded = tmp.resolve("sharded");
        Path single = tmp.resolve("single");
        ModelInitializer.run(options(fixtureConfig("qwen2_5_vl"), sharded).shardBytes(max).seed(3).build());
        ModelInitializer.run(options(fixtureConfig("qwen2_5_vl"), single).seed(3).build());

        JsonNode index = new ObjectMapper().readTree(sharded.resolve("model.safetensors.index.json").toFile());
        PaperConfigs.Spec spec = PaperConfigs.resolve(fixtureConfig("qwen2_5_vl"));
        List<WeightPlan.Tensor> plan = WeightPlan.of(spec.config(), spec.raw());
        assertEquals(WeightPlan.parameters(plan) * 2, index.get("metadata").get("total_size").asLong());
        JsonNode wm = index.get("weight_map");
        assertEquals(plan.size(), wm.size());
        List<String> shardOrder = new ArrayList<>();
        List<Long> shardBytes = new ArrayList<>();
        for (WeightPlan.Tensor t : plan) {
            String shard = wm.get(t.name()).asText();
            long b = t.numel() * 2;
            if (shardOrder.isEmpty() || !shardOrder.get(shardOrder.size() - 1).equals(shard)) {
                if (!shardOrder.isEmpty()) {
                    assertTrue(shardBytes.get(shardBytes.size() - 1) + b > max, "shard " + shard + " opened although " + t.name() + " fit");
                }
                shardOrder.add(shard);
                shardBytes.add(0L);
            }
            shardBytes.set(shardBytes.size() - 1, shardBytes.get(shardBytes.size() - 1) + b);
        }
        int n = shardOrder.size();
        assertTrue(n >= 6, n + " shards");
        for (int i = 0; i < n; i++) {
            assertEquals(String.format("model-%05d-of-%05d.safetensors", i + 1, n), shardOrder.get(i));
            assertTrue(shardBytes.get(i) <= max, shardOrder.get(i) + " holds " + shardBytes.get(i) + " bytes");
        }
        try (Checkpoint a = Checkpoint.open(sharded); Checkpoint b = Checkpoint.open(single)) {
            assertEquals(b.names(), a.names());
            for (String name : b.names()) assertEquals(b.get(name), a.get(name), name);
        }
    }

    @Test
    void sameSeedSameBytesAnyThreadCountOtherSeedOtherBytes(@TempDir Path tmp) throws IOException {
        String config = fixtureConfig("llava_next");
        ModelInitializer.run(options(config, tmp.resolve("a")).seed(11).threads(1).build());
        ModelInitializer.run(options(config, tmp.resolve("b")).seed(11).threads(3).build());
        ModelInitializer.run(options(config, tmp.resolve("c")).seed(12).build());
        byte[] a = Files.readAllBytes(tmp.resolve("a/model.safetensors"));
        assertArrayEquals(a, Files.readAllBytes(tmp.resolve("b/model.safetensors")));
        byte[] c = Files.readAllBytes(tmp.resolve("c/model.safetensors"));
        assertEquals(a.length, c.length);
        assertFalse(Arrays.equals(a, c));
        try (SafeTensorsFile fa = SafeTensorsFile.open(tmp.resolve("a/model.safetensors"));
             SafeTensorsFile fc = SafeTensorsFile.open(tmp.resolve("c/model.safetensors"))) {
            // every random tensor differs, the constant ones do not
            assertFalse(fa.readFloat32("language_model.lm_head.weight").equals(fc.readFloat32("language_model.lm_head.weight")));
            assertEquals(fa.readFloat32("language_model.model.norm.weight"), fc.readFloat32("language_model.model.norm.weight"));
        }
    }

    /**
     * A 20000 × 64 embedding (1.28 M values, two chunks) in float32: mean and std within 5 standard errors of N(0, 0.02²),
     * the pad_token_id row (padding_idx) zero; norm weights 1, biases 0.
     */
    @Test
    void initialValuesFollowTheirDistributions(@TempDir Path tmp) throws IOException {
        ObjectNode config = (ObjectNode) new ObjectMapper().readTree(FIXTURES.resolve("qwen2_5_vl/config.json").toFile());
        config.put("vocab_size", 20_000);
        config.put("pad_token_id", 0); // <|endoftext|>, also the bos token
        Path configFile = tmp.resolve("config.json");
        Files.writeString(configFile, config.toString());
        Path out = tmp.resolve("out");
        ModelInitializer.run(options(configFile.toString(), out).dtype(DType.F32).build());
        try (SafeTensorsFile f = SafeTensorsFile.open(out.resolve("model.safetensors"))) {
            float[] e = f.readFloat32("model.embed_tokens.weight").reshape(20_000L * 64).toFloatVector();
            double sum = 0, sq = 0;
            int n = 0;
            for (int i = 0; i < e.length; i++) {
                if (i / 64 == 0) {
                    assertEquals(0f, e[i], 0f, "padding row");
                    continue;
                }
                sum += e[i];
                sq += (double) e[i] * e[i];
                n++;
            }
            double mean = sum / n, std = Math.sqrt(sq / n - mean * mean);
            assertTrue(Math.abs(mean) < 5 * 0.02 / Math.sqrt(n), "mean " + mean);
            assertTrue(Math.abs(std - 0.02) < 5 * 0.02 / Math.sqrt(2.0 * n), "std " + std);
            for (String name : f.names()) {
                float[] v = f.readFloat32(name).reshape(f.info(name).numel()).toFloatVector();
                if (name.endsWith("norm.weight") || name.endsWith("norm1.weight") || name.endsWith("norm2.weight") || name.endsWith("ln_q.weight")) {
                    for (float x : v) assertEquals(1f, x, 0f, name);
                } else if (name.endsWith(".bias")) {
                    for (float x : v) assertEquals(0f, x, 0f, name);
                }
            }
        }
    }

    /**
     * The paper configs' tokenizer and processor files, without the 16 GB of weights: the special tokens encode to the
     * config's ids through DJL, and a 448×448 image expands to Qwen2.5-VL's 1024 patches / 4 = 256 tokens, LLaVA-1.5's
     * 24² = 576, and LLaVA-NeXT's 2×2 tiles at 672² (48² features + 48 newlines) plus the 576 of the base image = 2928.
     */
    @Test
    void paperConfigsGetTokenizersAndProcessorsWithTheirIds(@TempDir Path tmp) throws IOException {
        Object[][] cases = {
                {"qwen2.5-vl-7b-instruct", 256, Map.of("<|image_pad|>", 151655, "<|video_pad|>", 151656, "<|vision_start|>", 151652,
                        "<|vision_end|>", 151653, "<|vision_pad|>", 151654, "<|im_end|>", 151645, "<|endoftext|>", 151643)},
                {"llava-1.5-7b", 576, Map.of("<image>", 32000, "<pad>", 32001, "<s>", 1, "</s>", 2)},
                {"llama3-llava-next-8b", 2928, Map.of("<image>", 128256, "<s>", 128000, "</s>", 128009)},
        };
        for (Object[] c : cases) {
            String name = (String) c[0];
            Path dir = Files.createDirectories(tmp.resolve(name));
            PaperConfigs.Spec spec = PaperConfigs.resolve(name);
            List<SpecialTokens.Assignment> tokens = ModelInitializer.writeSupportFiles(dir, spec, DType.BF16, PaperConfigs.smallFolder(spec.modelType()));
            String check = ModelInitializer.check(dir, spec.config(), tokens);
            assertTrue(check.contains("becomes " + c[1] + " image tokens (id " + spec.config().imageTokenId() + ")"), name + ": " + check);
            @SuppressWarnings("unchecked")
            Map<String, Integer> ids = (Map<String, Integer>) c[2];
            try (HfTokenizer t = HfTokenizer.load(dir)) {
                ids.forEach((token, id) -> assertArrayEquals(new long[]{id}, t.encodeWithoutSpecialTokens(token), name + " " + token));
                if (spec.config().textConfig().bosTokenId() != null && !name.startsWith("qwen")) {
                    assertEquals(spec.config().textConfig().bosTokenId().longValue(), t.encode("hello")[0], name + ": the BOS the post-processor adds");
                }
            }
            // the hub's processor files are written as they are; config.json only changes its dtype
            assertEquals(spec.folder().read("preprocessor_config.json").orElseThrow(), Files.readString(dir.resolve("preprocessor_config.json")));
            assertTrue(Files.readString(dir.resolve("config.json")).contains("\"torch_dtype\": \"bfloat16\""));
            assertFalse(Files.readString(dir.resolve("config.json")).contains("\"float16\""));
        }
    }

    @Test
    void aNonEmptyOutIsRefusedUnlessOverwrite(@TempDir Path tmp) throws IOException {
        Path out = Files.createDirectories(tmp.resolve("out"));
        Path mine = Files.writeString(out.resolve("notes.txt"), "mine");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> ModelInitializer.run(options(fixtureConfig("llava"), out).build()));
        assertTrue(e.getMessage().contains("not empty") && e.getMessage().contains("--overwrite"), e.getMessage());
        assertEquals("mine", Files.readString(mine));
        assertEquals(List.of("out"), listing(tmp), "no staging folder left behind");

        ModelInitializer.run(options(fixtureConfig("llava"), out).overwrite(true).build());
        assertFalse(Files.exists(mine));
        assertTrue(Files.isRegularFile(out.resolve("model.safetensors")));
        assertEquals(List.of("out"), listing(tmp), "the replaced folder is gone");
    }

    @Test
    void badInputFailsWithOneClearMessageAndLeavesNothing(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("out");
        ConfigException unknown = assertThrows(ConfigException.class, () -> ModelInitializer.run(options("llava-2-70b", out).build()));
        assertTrue(unknown.getMessage().contains("'llava-2-70b'") && unknown.getMessage().contains("qwen2.5-vl-7b-instruct"), unknown.getMessage());

        Path bert = Files.writeString(tmp.resolve("bert.json"), "{\"model_type\": \"bert\", \"hidden_size\": 8}");
        ConfigException unsupported = assertThrows(ConfigException.class, () -> ModelInitializer.run(options(bert.toString(), out).build()));
        assertTrue(unsupported.getMessage().contains("model_type") && unsupported.getMessage().contains("bert"), unsupported.getMessage());

        Path empty = Files.createDirectories(tmp.resolve("empty"));
        ConfigException noTokenizer = assertThrows(ConfigException.class,
                () -> ModelInitializer.run(options(fixtureConfig("llava"), out).from(empty).build()));
        assertTrue(noTokenizer.getMessage().contains("tokenizer.json"), noTokenizer.getMessage());
        assertEquals(List.of("bert.json", "empty"), listing(tmp), "a failed run leaves no output and no staging folder");
    }

    @Test
    void shardSizesAndDtypesParseAsTransformersReadsThem() {
        assertEquals(4_000_000_000L, ModelInitializer.parseShardSize("4GB"));
        assertEquals(500_000_000L, ModelInitializer.parseShardSize("500MB"));
        assertEquals(1_500_000_000L, ModelInitializer.parseShardSize("1.5GB"));
        assertEquals(2L << 30, ModelInitializer.parseShardSize("2GiB"));
        assertEquals(500_000_000L, ModelInitializer.parseShardSize("4Gb"));
        assertEquals(123_456L, ModelInitializer.parseShardSize("123456"));
        for (String bad : new String[]{"4XB", "GB", "-1GB", "0", "lots"}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> ModelInitializer.parseShardSize(bad), bad);
            assertTrue(e.getMessage().startsWith("--shard-size '" + bad + "'"), e.getMessage());
        }
        assertEquals(DType.BF16, ModelInitializer.parseDtype("bf16"));
        assertEquals(DType.F16, ModelInitializer.parseDtype("float16"));
        assertEquals(DType.F32, ModelInitializer.parseDtype("F32"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ModelInitializer.parseDtype("int8")).getMessage().contains("--dtype 'int8'"));
    }

    private static List<String> listing(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }
}
