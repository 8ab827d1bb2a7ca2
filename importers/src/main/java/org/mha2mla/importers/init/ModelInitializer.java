package org.mha2mla.importers.init;

import org.mha2mla.importers.OutputFolder;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.math.BigDecimal;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.family.FamilySpecs;
import org.mha2mla.importers.config.ConfigException;
import org.mha2mla.importers.image.RgbImage;
import org.mha2mla.importers.processor.ProcessedPrompt;
import org.mha2mla.importers.processor.VlmProcessor;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.SafeTensorsWriter;
import org.mha2mla.importers.tokenizer.HfTokenizer;

/**
 * {@code mha2mla init}: a Hugging Face folder with random weights at a config's real shapes, as transformers'
 * {@code Model.from_config(config)} followed by {@code save_pretrained(dir, max_shard_size=…)} would write it, for
 * testing and benchmarking on 7B-class architectures that cannot be downloaded. It writes:
 * <ul>
 *   <li>config.json as given (a bundled paper config by name, or a file), its torch_dtype set to the stored dtype, and
 *       generation_config.json from its bos/eos/pad ids;</li>
 *   <li>every tensor of the architecture ({@link WeightPlan}) drawn as {@code _init_weights} draws it, deterministic in
 *       (seed, tensor name, element) and independent of the thread count ({@link RandomTensor}), streamed chunk by
 *       chunk into safetensors shards cut by save_pretrained's max_shard_size rule, each file's tensors in name order
 *       as the safetensors library stores them, plus model.safetensors.index.json; one model.safetensors when
 *       everything fits in one shard;</li>
 *   <li>tokenizer.json, tokenizer_config.json and the chat template of a small folder of the same family (--from, by
 *       default the test fixtures' tiny BPE tokenizers bundled with the project) with the special tokens the config
 *       names moved to the config's ids ({@link SpecialTokens}); the processor files of the config's own folder (the
 *       hub's, for a paper config), else of the small folder, with their geometry (crop size, pinpoints, patch and
 *       merge sizes) set to the config's.</li>
 * </ul>
 * Before the folder is renamed into place it is checked the way the project will use it: each special token encodes
 * (through DJL's tokenizers) to the config's id, and the processor turns a 448×448 image into as many image tokens as
 * the vision tower makes for it.
 */
public final class ModelInitializer {

    /** save_pretrained-style default shard limit: "4GB" = 4·10⁹ bytes. */
    public static final long DEFAULT_SHARD_BYTES = 4_000_000_000L;
    /** The side of the square test image the check processes. */
    static final int CHECK_IMAGE_SIDE = 448;
    private static final List<String> TOKENIZER_FILES = List.of("tokenizer.json", "tokenizer_config.json",
            "special_tokens_map.json", "chat_template.jinja", "chat_template.json");
    private static final String PREPROCESSOR = "preprocessor_config.json";
    private static final String PROCESSOR = "processor_config.json";

    /** What to build: {@link #builder()} with {@code config} and {@code out} required. */
    public static final class Options {
        final String config;
        final Path out;
        final DType dtype;
        final long shardBytes;
        final long seed;
        final Path from;
        final boolean overwrite;
        final boolean progress;
        final int threads;

        private Options(Builder b) {
            this.config = Objects.requireNonNull(b.config, "config");
            this.out = Objects.requireNonNull(b.out, "out");
            this.dtype = b.dtype;
            this.shardBytes = b.shardBytes;
            this.seed = b.seed;
            this.from = b.from;
            this.overwrite = b.overwrite;
            this.progress = b.progress;
            this.threads = b.threads;
        }

        public static Builder builder() {
            return new Builder();
        }

        public static final class Builder {
            private String config;
            private Path out;
            private DType dtype;
            private long shardBytes = DEFAULT_SHARD_BYTES;
            private long seed;
            private Path from;
            private boolean overwrite;
            private boolean progress = true;
            private int threads = Runtime.getRuntime().availableProcessors();

            private Builder() {
            }

            /** A bundled paper config ({@link PaperConfigs#NAMES}) or a path to a config.json. */
            public Builder config(String nameOrPath) {
                this.config = nameOrPath;
                return this;
            }

            public Builder out(Path out) {
                this.out = out;
                return this;
            }

            /** BF16, F16 or F32; null (default): config.json's torch_dtype, F32 when it has none. */
            public Builder dtype(DType dtype) {
                this.dtype = dtype;
                return this;
            }

            /** Largest shard in bytes (default 4·10⁹); a tensor larger than this gets a shard of its own. */
            public Builder shardBytes(long shardBytes) {
                if (shardBytes <= 0) throw new IllegalArgumentException("--shard-size must be positive, got " + shardBytes + " bytes");
                this.shardBytes = shardBytes;
                return this;
            }

            public Builder seed(long seed) {
                this.seed = seed;
                return this;
            }

            /** The small folder to take the tokenizer and chat template from; null (default): the bundled one. */
            public Builder from(Path from) {
                this.from = from;
                return this;
            }

            /** Replace a non-empty --out. */
            public Builder overwrite(boolean overwrite) {
                this.overwrite = overwrite;
                return this;
            }

            public Builder progress(boolean progress) {
                this.progress = progress;
                return this;
            }

            /** Threads that draw the weights (default: one per core). */
            public Builder threads(int threads) {
                if (threads < 1) throw new IllegalArgumentException("threads must be at least 1, got " + threads);
                this.threads = threads;
                return this;
            }

            public Options build() {
                return new Options(this);
            }
        }
    }

    /**
     * The folder written: its tensors' element count and bytes, the weight files, and the line the check printed
     * (image tokens of the test image, special-token ids).
     */
    public record Result(Path dir, String modelType, DType dtype, long parameters, long bytes, List<String> weightFiles,
                         String check) {
    }

    private ModelInitializer() {
    }

    public static Result run(Options o) {
        PaperConfigs.Spec spec = PaperConfigs.resolve(o.config);
        DType dtype = o.dtype != null ? o.dtype : spec.storedDtype();
        List<WeightPlan.Tensor> plan = WeightPlan.of(spec.config(), spec.raw());
        long parameters = WeightPlan.parameters(plan);
        long bytes = Math.multiplyExact(parameters, dtype.size());
        SourceFolder small = o.from != null ? requireFolder(o.from) : PaperConfigs.smallFolder(spec.modelType());

        OutputFolder folder = OutputFolder.of("init", o.out).input("--from", o.from).overwrite(o.overwrite).open();
        Path staged = folder.dir();
        try {
            requireSpace(staged, bytes);
            List<SpecialTokens.Assignment> tokens = writeSupportFiles(staged, spec, dtype, small);
            List<String> files = writeWeights(staged, plan, dtype, o);
            String check = check(staged, spec.config(), tokens);
            Path written = folder.commit();
            return new Result(written, spec.modelType(), dtype, parameters, bytes, files, check);
        } catch (RuntimeException e) {
            folder.discard();
            throw e;
        }
    }

    // ---- option parsing shared with the command line ----

    /** {@code bf16|f16|f32} (or bfloat16, float16, float32). */
    public static DType parseDtype(String s) {
        return switch (s.trim().toLowerCase(Locale.ROOT)) {
            case "bf16", "bfloat16" -> DType.BF16;
            case "f16", "fp16", "float16", "half" -> DType.F16;
            case "f32", "fp32", "float32", "float" -> DType.F32;
            default -> throw new IllegalArgumentException("--dtype '" + s + "': expected bf16, f16 or f32");
        };
    }

    private static final Pattern SIZE = Pattern.compile("(\\d+(?:\\.\\d+)?)\\s*([A-Za-z]*)");

    /**
     * A size as transformers' {@code convert_file_size_to_int} reads max_shard_size: plain bytes, or a number with
     * KB/MB/GB/TB (powers of 10; "4GB" = 4·10⁹) or KiB/MiB/GiB/TiB (powers of 2); a lowercase final b means bits.
     */
    public static long parseShardSize(String s) {
        Matcher m = SIZE.matcher(s.trim());
        if (!m.matches()) throw badSize(s);
        BigDecimal n = new BigDecimal(m.group(1));
        String unit = m.group(2);
        String u = unit.toUpperCase(Locale.ROOT);
        BigDecimal bytes = switch (u) {
            case "", "B" -> n;
            case "KB" -> n.scaleByPowerOfTen(3);
            case "MB" -> n.scaleByPowerOfTen(6);
            case "GB" -> n.scaleByPowerOfTen(9);
            case "TB" -> n.scaleByPowerOfTen(12);
            case "KIB" -> n.multiply(BigDecimal.valueOf(1L << 10));
            case "MIB" -> n.multiply(BigDecimal.valueOf(1L << 20));
            case "GIB" -> n.multiply(BigDecimal.valueOf(1L << 30));
            case "TIB" -> n.multiply(BigDecimal.valueOf(1L << 40));
            default -> throw badSize(s);
        };
        if (u.length() == 2 && unit.endsWith("b")) bytes = bytes.divide(BigDecimal.valueOf(8)); // "4Gb": gigabits
        long v;
        try {
            v = bytes.longValue();
        } catch (ArithmeticException e) {
            throw badSize(s);
        }
        if (v <= 0 || bytes.compareTo(BigDecimal.valueOf(Long.MAX_VALUE)) > 0) throw badSize(s);
        return v;
    }

    private static IllegalArgumentException badSize(String s) {
        return new IllegalArgumentException("--shard-size '" + s + "': expected a positive size such as 4GB (4·10⁹ bytes), 500MB, 2GiB or 1000000");
    }

    // ---- config, tokenizer and processor files ----

    /** Writes everything but the weights; returns the special-token ids the tokenizer now has. */
    static List<SpecialTokens.Assignment> writeSupportFiles(Path dir, PaperConfigs.Spec spec, DType dtype, SourceFolder small) {
        Map<String, String> files = new LinkedHashMap<>();
        files.put("config.json", spec.configJsonWithDtype(dtype));
        files.put("generation_config.json", generationConfig(spec));

        SourceFolder processorSource = spec.folder().has(PREPROCESSOR) || spec.folder().has(PROCESSOR) ? spec.folder() : small;
        String processorConfig = processorSource.read(PROCESSOR).orElse(null);
        String preprocessorConfig = processorSource.read(PREPROCESSOR).orElse(null);
        if (preprocessorConfig == null && processorConfig == null) {
            throw new ConfigException(processorSource + ": has neither " + PREPROCESSOR + " nor " + PROCESSOR
                    + " (the image processor settings)");
        }
        if (preprocessorConfig != null) files.put(PREPROCESSOR, withGeometry(preprocessorConfig, spec.config(), false));
        if (processorConfig != null) files.put(PROCESSOR, withGeometry(processorConfig, spec.config(), true));

        String tokenizerText = small.read("tokenizer.json").orElseThrow(() -> new ConfigException(small
                + ": has no tokenizer.json (--from must be a model folder with a fast tokenizer)"));
        JsonNode tokenizerConfig = small.read("tokenizer_config.json").map(t -> HubJson.read(t, small + "/tokenizer_config.json"))
                .orElse(null);
        JsonNode processor = processorConfig == null ? null : HubJson.read(processorConfig, processorSource + "/" + PROCESSOR);
        List<SpecialTokens.Assignment> tokens = SpecialTokens.of(spec.config(), spec.raw(), tokenizerConfig, processor);
        ObjectNode tokenizer = (ObjectNode) HubJson.read(tokenizerText, small + "/tokenizer.json");
        Map<String, Integer> moved = SpecialTokens.remap(tokenizer, tokens, spec.config().textConfig().vocabSize(),
                small + "/tokenizer.json");
        for (String name : TOKENIZER_FILES) {
            if (name.equals("tokenizer.json")) {
                files.put(name, moved.isEmpty() ? tokenizerText : HubJson.write(tokenizer));
            } else if (name.equals("tokenizer_config.json") && tokenizerConfig instanceof ObjectNode tc && tc.has("added_tokens_decoder")
                    && !moved.isEmpty()) {
                SpecialTokens.remapTokenizerConfig(tc, tokens);
                files.put(name, HubJson.write(tc));
            } else {
                small.read(name).ifPresent(text -> files.put(name, text));
            }
        }
        try {
            for (Map.Entry<String, String> f : files.entrySet()) {
                Files.writeString(dir.resolve(f.getKey()), f.getValue(), StandardCharsets.UTF_8);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot write (" + e.getMessage() + ")", e);
        }
        return tokens;
    }

    /** GenerationConfig.from_model_config: the text model's bos/eos ids and the pad id, as save_pretrained writes them. */
    private static String generationConfig(PaperConfigs.Spec spec) {
        TextConfig t = spec.config().textConfig();
        ObjectNode g = HubJson.MAPPER.createObjectNode();
        g.put("_from_model_config", true);
        if (t.bosTokenId() != null) g.put("bos_token_id", t.bosTokenId());
        if (t.eosTokenIds().size() == 1) {
            g.put("eos_token_id", t.eosTokenIds().get(0));
        } else if (!t.eosTokenIds().isEmpty()) {
            ArrayNode eos = g.putArray("eos_token_id");
            t.eosTokenIds().forEach(eos::add);
        }
        JsonNode pad = spec.raw().node().get("pad_token_id");
        if (pad != null && pad.isIntegralNumber()) g.put("pad_token_id", pad.asInt());
        else if (t.padTokenId() != null) g.put("pad_token_id", t.padTokenId());
        return HubJson.write(g);
    }

    /**
     * An image-processor file with the fields that must agree with the vision tower set from the config (only fields
     * the file already has): CLIP's crop and resize size = image_size, anyres pinpoints, the processor's patch size and
     * feature strategy; Qwen2-VL's patch, merge and temporal patch sizes. The text is kept as it is when nothing changes.
     */
    static String withGeometry(String json, VlmConfig config, boolean processorFile) {
        ObjectNode root = (ObjectNode) HubJson.read(json, processorFile ? PROCESSOR : PREPROCESSOR);
        boolean changed = false;
        List<ObjectNode> imageProcessors = new ArrayList<>();
        if (processorFile) {
            if (root.get("image_processor") instanceof ObjectNode ip) imageProcessors.add(ip);
        } else {
            imageProcessors.add(root);
        }
        changed |= FamilySpecs.of(config).matchGeometry(config, imageProcessors, processorFile ? root : null);
        return changed ? HubJson.write(root) : json;
    }

    /** LLaVA's geometry: crop and shortest edge at the CLIP input size, NeXT's pinpoints, the processor's patch size and feature strategy. */
    public static boolean llavaGeometry(LlavaConfig l, List<ObjectNode> imageProcessors, ObjectNode processor) {
        boolean changed = false;
        int side = l.visionConfig().imageSize();
        for (ObjectNode ip : imageProcessors) {
            if (ip.get("crop_size") instanceof ObjectNode crop) {
                changed |= setInt(crop, "height", side) | setInt(crop, "width", side);
            }
            if (ip.get("size") instanceof ObjectNode size && size.has("shortest_edge")) changed |= setInt(size, "shortest_edge", side);
            if (l.isNext() && ip.has("image_grid_pinpoints")) {
                ArrayNode pins = HubJson.MAPPER.createArrayNode();
                for (int[] p : l.imageGridPinpoints()) pins.addArray().add(p[0]).add(p[1]);
                if (!pins.equals(ip.get("image_grid_pinpoints"))) {
                    ip.set("image_grid_pinpoints", pins);
                    changed = true;
                }
            }
        }
        if (processor != null) {
            if (processor.has("patch_size")) changed |= setInt(processor, "patch_size", l.visionConfig().patchSize());
            if (processor.has("vision_feature_select_strategy")
                    && !processor.get("vision_feature_select_strategy").asText().equals(l.visionFeatureSelectStrategy())) {
                processor.put("vision_feature_select_strategy", l.visionFeatureSelectStrategy());
                changed = true;
            }
        }
        return changed;
    }

    /** Qwen2-VL's geometry: patch, merge and temporal patch sizes. */
    public static boolean qwen25VlGeometry(Qwen25VlConfig q, List<ObjectNode> imageProcessors) {
        boolean changed = false;
        for (ObjectNode ip : imageProcessors) {
            if (ip.has("patch_size")) changed |= setInt(ip, "patch_size", q.visionConfig().patchSize());
            if (ip.has("merge_size")) changed |= setInt(ip, "merge_size", q.visionConfig().spatialMergeSize());
            if (ip.has("temporal_patch_size")) changed |= setInt(ip, "temporal_patch_size", q.visionConfig().temporalPatchSize());
        }
        return changed;
    }

    private static boolean setInt(ObjectNode o, String field, int value) {
        JsonNode v = o.get(field);
        if (v != null && v.isIntegralNumber() && v.asInt() == value) return false;
        o.put(field, value);
        return true;
    }

    private static SourceFolder requireFolder(Path from) {
        if (!Files.isDirectory(from)) throw new IllegalArgumentException("--from " + from + ": not a folder");
        return SourceFolder.onDisk(from);
    }

    // ---- weights ----

    /** The planned tensors as chunked writer entries. */
    static List<SafeTensorsWriter.Entry> entries(List<WeightPlan.Tensor> plan, DType dtype, long seed) {
        List<SafeTensorsWriter.Entry> entries = new ArrayList<>(plan.size());
        for (WeightPlan.Tensor t : plan) {
            entries.add(SafeTensorsWriter.Entry.chunked(t.name(), dtype, t.shape(), new RandomTensor(seed, t)));
        }
        return entries;
    }

    private static List<String> writeWeights(Path dir, List<WeightPlan.Tensor> plan, DType dtype, Options o) {
        List<SafeTensorsWriter.Entry> entries = entries(plan, dtype, o.seed);
        long total = 0;
        for (SafeTensorsWriter.Entry e : entries) total += e.byteLength();
        ProgressBar bar = o.progress
                ? new ProgressBarBuilder().setTaskName("init " + o.out.getFileName()).setInitialMax(total).setUnit(" MB", 1_000_000)
                .setUpdateIntervalMillis(500).continuousUpdate().showSpeed().build()
                : null;
        try {
            SafeTensorsWriter.Options options = SafeTensorsWriter.Options.builder().threads(o.threads).sortedByName(true)
                    .bytesWritten(n -> {
                        if (bar != null) bar.stepBy(n);
                    }).build();
            Path written = SafeTensorsWriter.writeSharded(dir, entries, Map.of("format", "pt"), o.shardBytes, options);
            List<String> files = new ArrayList<>();
            try (var s = Files.list(dir)) {
                s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".safetensors")).sorted().forEach(files::add);
            }
            if (written.getFileName().toString().equals(SafeTensorsWriter.INDEX_FILE)) files.add(SafeTensorsWriter.INDEX_FILE);
            return files;
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot list the written files (" + e.getMessage() + ")", e);
        } finally {
            if (bar != null) bar.close();
        }
    }

    /** Fails before writing 16 GB into a file system that cannot hold it. */
    private static void requireSpace(Path dir, long bytes) {
        try {
            long free = Files.getFileStore(dir).getUsableSpace();
            long needed = bytes + 64L * 1024 * 1024;
            if (free < needed) {
                throw new IllegalArgumentException(String.format(Locale.ROOT, "--out: the weights need %.2f GB, %s has %.2f GB free",
                        needed / 1e9, dir.getParent(), free / 1e9));
            }
        } catch (IOException e) {
            throw new UncheckedIOException(dir + ": cannot read the free space (" + e.getMessage() + ")", e);
        }
    }

    // ---- the check before the folder is published ----

    /**
     * Loads the folder's tokenizer and processor as every command will: each special token must encode to the config's
     * id, and a prompt with a {@value #CHECK_IMAGE_SIDE}² image must hold exactly as many image tokens, at the config's
     * image token id, as the vision tower produces for that image.
     */
    static String check(Path dir, VlmConfig config, List<SpecialTokens.Assignment> tokens) {
        try (HfTokenizer tokenizer = HfTokenizer.load(dir)) {
            for (SpecialTokens.Assignment a : tokens) {
                long[] ids = tokenizer.encodeWithoutSpecialTokens(a.token());
                if (ids.length != 1 || ids[0] != a.id()) {
                    throw new ConfigException(dir.resolve("tokenizer.json") + ": '" + a.token() + "' encodes to " + Arrays.toString(ids)
                            + " but config.json's " + a.field() + " is " + a.id());
                }
            }
        }
        try (VlmProcessor processor = VlmProcessor.load(dir)) {
            RgbImage image = RgbImage.black(CHECK_IMAGE_SIDE, CHECK_IMAGE_SIDE);
            ProcessedPrompt p = processor.process(processor.userPrompt("Describe the image.", 1), List.of(image));
            int imageTokens = 0;
            for (long id : p.inputIds()) {
                if (id == config.imageTokenId()) imageTokens++;
                if (id < 0 || id >= config.textConfig().vocabSize()) {
                    throw new ConfigException(dir + ": the processed prompt holds token id " + id + ", outside vocab_size "
                            + config.textConfig().vocabSize());
                }
            }
            Integer expected = visionTokens(config, p, dir);
            if (expected != null && imageTokens != expected) {
                throw new ConfigException(dir + ": the processor expands a " + CHECK_IMAGE_SIDE + "×" + CHECK_IMAGE_SIDE + " image to "
                        + imageTokens + " tokens of id " + config.imageTokenId() + " but the vision tower makes " + expected + " features");
            }
            return String.format(Locale.ROOT, "a %d×%d image becomes %d image tokens (id %d) in a %d-token prompt; special tokens %s",
                    CHECK_IMAGE_SIDE, CHECK_IMAGE_SIDE, imageTokens, config.imageTokenId(), p.length(), describe(tokens));
        }
    }

    /**
     * Image features the model makes for the processed image, from the config and the pixel tensor's shape; null for
     * LLaVA-NeXT, whose anyres count (base tile, unpadded grid, newlines) has only the processor's formula to come from,
     * once its tiles are checked to be the tower's input size.
     */
    private static Integer visionTokens(VlmConfig config, ProcessedPrompt p, Path dir) {
        return FamilySpecs.of(config).visionTokens(config, p, dir);
    }

    /** LLaVA's image features: the CLIP patches (+ CLS for "full"); null for NeXT (see {@link #visionTokens}). */
    public static Integer llavaVisionTokens(LlavaConfig l, ProcessedPrompt p, Path dir) {
        long[] shape = p.pixelValues().shape();
        int side = l.visionConfig().imageSize();
        if (shape[shape.length - 1] != side || shape[shape.length - 2] != side) {
            throw new ConfigException(dir + ": the image processor makes " + shape[shape.length - 2] + "×" + shape[shape.length - 1]
                    + " crops but the CLIP tower takes " + side + "×" + side);
        }
        if (l.isNext()) return null;
        int perSide = l.visionConfig().patchesPerSide();
        return perSide * perSide + (l.visionFeatureSelectStrategy().equals("full") ? 1 : 0);
    }

    /** Qwen2.5-VL's image features: the grid's patches merged spatial_merge_size² to one. */
    public static Integer qwen25VlVisionTokens(Qwen25VlConfig q, ProcessedPrompt p, Path dir) {
        long[] shape = p.pixelValues().shape();
        if (shape[1] != q.visionConfig().patchVolume()) {
            throw new ConfigException(dir + ": the image processor makes patches of " + shape[1] + " values but the vision tower's"
                    + " patch embedding takes " + q.visionConfig().patchVolume());
        }
        int[] thw = p.imageGridThw()[0];
        int merge = q.visionConfig().spatialMergeSize();
        if (thw[1] % merge != 0 || thw[2] % merge != 0 || (long) thw[0] * thw[1] * thw[2] != shape[0]) {
            throw new ConfigException(dir + ": image_grid_thw " + Arrays.toString(thw) + " does not fit " + shape[0]
                    + " patches merged " + merge + "×" + merge);
        }
        return thw[0] * thw[1] * thw[2] / (merge * merge);
    }

    private static String describe(List<SpecialTokens.Assignment> tokens) {
        StringBuilder b = new StringBuilder();
        for (SpecialTokens.Assignment a : tokens) {
            if (b.length() > 0) b.append(", ");
            b.append(a.token()).append('=').append(a.id());
        }
        return b.toString();
    }
}
