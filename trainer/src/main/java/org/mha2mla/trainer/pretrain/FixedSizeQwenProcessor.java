package org.mha2mla.trainer.pretrain;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.hubspot.jinjava.Jinjava;
import com.hubspot.jinjava.JinjavaConfig;
import com.hubspot.jinjava.interpret.Context;
import com.hubspot.jinjava.interpret.JinjavaInterpreter;
import com.hubspot.jinjava.tree.Node;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.trainer.LossMask;
import org.mha2mla.trainer.data.ChatExampleEncoder;
import org.mha2mla.trainer.data.InstructSample;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Qwen2_5_VLProcessor for images that Qwen's smart_resize leaves as they are (sides multiples of patch·merge =
 * 28 px, pixel count within [min_pixels, max_pixels]), e.g. the demo's 112×112 pictures; any other size is refused
 * rather than resampled. Read from a model folder: tokenizer.json (DJL), chat_template.jinja,
 * preprocessor_config.json. What it does, as transformers:
 * <ul>
 * <li>pixels: rescale by 1/255 and normalise with image_mean/image_std in float32 (BaseImageProcessor's order),
 * repeat the frame to temporal_patch_size, and flatten patches as image_processing_qwen2_vl.py: rows (t, h/m, w/m,
 * m, m), columns (C, T, P, P); image_grid_thw = [1, h/P, w/P];</li>
 * <li>text: each {@code <|image_pad|>} expanded to t·h·w / merge² copies, then tokenized;</li>
 * <li>chat: LLaVA's {@code <image>\n} marks become {@code {"type": "image"}} content items, rendered with the
 * model's chat template (trim_blocks, as transformers' apply_chat_template).</li>
 * </ul>
 * Behind {@link ChatExampleEncoder.Processor}, so the importers' general processor can replace it.
 */
public final class FixedSizeQwenProcessor implements ChatExampleEncoder.Processor, AutoCloseable {

    public static final String IMAGE_PAD = "<|image_pad|>";
    static final int MAX_TOKENS = 1 << 20;

    private final HuggingFaceTokenizer tokenizer;
    /**
     * The chat template parsed once per thread (parsing costs as much as rendering), with its own Jinjava: renders
     * write into the engine's global context, which threads must not share.
     */
    private final ThreadLocal<Template> template;

    private record Template(Jinjava jinja, Node tree) {
        static Template parse(String text) {
            Jinjava jinja = new Jinjava(JinjavaConfig.newBuilder().withTrimBlocks(true).build());
            return new Template(jinja, jinja.newInterpreter().parse(text));
        }
    }
    private final float[] mean;
    private final float[] std;
    private final double rescale;
    private final int patch;
    private final int merge;
    private final int temporal;
    private final long minPixels;
    private final long maxPixels;

    private FixedSizeQwenProcessor(HuggingFaceTokenizer tokenizer, String template, JsonNode config, Path file) {
        this.tokenizer = tokenizer;
        this.template = ThreadLocal.withInitial(() -> Template.parse(template));
        this.mean = floats(config, "image_mean", file);
        this.std = floats(config, "image_std", file);
        this.rescale = number(config, "rescale_factor", file);
        this.patch = (int) number(config, "patch_size", file);
        this.merge = (int) number(config, "merge_size", file);
        this.temporal = (int) number(config, "temporal_patch_size", file);
        JsonNode size = config.path("size");
        this.minPixels = size.has("shortest_edge") ? size.get("shortest_edge").asLong() : config.path("min_pixels").asLong(56 * 56);
        this.maxPixels = size.has("longest_edge") ? size.get("longest_edge").asLong() : config.path("max_pixels").asLong(28L * 28 * 1280);
    }

    /** The processor of a Qwen2.5-VL model folder. */
    public static FixedSizeQwenProcessor load(Path modelDir) {
        Path pre = modelDir.resolve("preprocessor_config.json");
        try {
            for (String f : List.of("tokenizer.json", "chat_template.jinja", "preprocessor_config.json")) {
                if (!Files.isRegularFile(modelDir.resolve(f))) throw new IllegalArgumentException(modelDir + ": " + f + " is missing");
            }
            JsonNode config = new ObjectMapper().readTree(pre.toFile());
            // No truncation or padding (DJL otherwise assumes a 512-token model_max_length), as the HF processor.
            HuggingFaceTokenizer tokenizer = HuggingFaceTokenizer.builder().optTokenizerPath(modelDir.resolve("tokenizer.json"))
                    .optTruncation(false).optPadding(false).optMaxLength(MAX_TOKENS).build();
            return new FixedSizeQwenProcessor(tokenizer, Files.readString(modelDir.resolve("chat_template.jinja")), config, pre);
        } catch (IOException e) {
            throw new UncheckedIOException(modelDir + ": cannot read the processor files (" + e.getMessage() + ")", e);
        }
    }

    @Override
    public ChatExampleEncoder.Images images(List<BufferedImage> images) {
        List<INDArray> parts = new ArrayList<>();
        int[][] grid = new int[images.size()][];
        for (int i = 0; i < images.size(); i++) {
            BufferedImage img = images.get(i);
            checkSize(img.getHeight(), img.getWidth());
            parts.add(patchify(normalize(img)));
            grid[i] = new int[] {1, img.getHeight() / patch, img.getWidth() / patch};
        }
        INDArray pixels = parts.size() == 1 ? parts.get(0) : Nd4j.concat(0, parts.toArray(new INDArray[0]));
        return new ChatExampleEncoder.Images(pixels, null, grid);
    }

    @Override
    public long[] tokenize(String text, ChatExampleEncoder.Images images) {
        int[][] grid = images.imageGridThw();
        StringBuilder out = new StringBuilder();
        int from = 0;
        int image = 0;
        for (int at = text.indexOf(IMAGE_PAD); at >= 0; at = text.indexOf(IMAGE_PAD, from)) {
            if (grid == null || image >= grid.length) {
                throw new IllegalArgumentException("text has more " + IMAGE_PAD + " marks than the " + (grid == null ? 0 : grid.length)
                        + " image(s) given");
            }
            int tokens = grid[image][0] * grid[image][1] * grid[image][2] / (merge * merge);
            out.append(text, from, at).append(IMAGE_PAD.repeat(tokens));
            from = at + IMAGE_PAD.length();
            image++;
        }
        out.append(text.substring(from));
        return tokenizer.encode(out.toString()).getIds();
    }

    @Override
    public String render(List<LossMask.Message> messages, boolean addGenerationPrompt) {
        List<Map<String, Object>> hf = new ArrayList<>();
        for (LossMask.Message m : messages) {
            List<Map<String, Object>> content = new ArrayList<>();
            String text = m.content();
            String mark = InstructSample.IMAGE_PLACEHOLDER + "\n";
            while (text.contains(InstructSample.IMAGE_PLACEHOLDER)) {
                int at = text.indexOf(InstructSample.IMAGE_PLACEHOLDER);
                if (at > 0) content.add(Map.of("type", "text", "text", text.substring(0, at)));
                content.add(Map.of("type", "image"));
                text = text.startsWith(mark, at) ? text.substring(at + mark.length()) : text.substring(at + InstructSample.IMAGE_PLACEHOLDER.length());
            }
            if (!text.isEmpty()) content.add(Map.of("type", "text", "text", text));
            hf.add(Map.of("role", m.role(), "content", content));
        }
        Map<String, Object> ctx = new HashMap<>();
        ctx.put("messages", hf);
        ctx.put("add_generation_prompt", addGenerationPrompt);
        Template t = template.get();
        JinjavaInterpreter interpreter = new JinjavaInterpreter(t.jinja(), new Context(t.jinja().getGlobalContext(), ctx),
                t.jinja().getGlobalConfig());
        JinjavaInterpreter.pushCurrent(interpreter);
        try {
            return interpreter.render(t.tree());
        } finally {
            JinjavaInterpreter.popCurrent();
        }
    }

    /** The generation prompt for one question about one image: user turn with the image first, then the assistant's turn opened. */
    public MultimodalInput prompt(String question, BufferedImage image) {
        ChatExampleEncoder.Images images = images(List.of(image));
        String text = render(List.of(new LossMask.Message(LossMask.USER, InstructSample.IMAGE_PLACEHOLDER + "\n" + question)), true);
        return new MultimodalInput(tokenize(text, images), images.pixelValues(), null, images.imageGridThw());
    }

    /** Generated ids as text, special tokens skipped (processor.batch_decode(skip_special_tokens=True)). */
    public String decode(long[] ids) {
        return tokenizer.decode(ids, true);
    }

    /** Qwen's smart_resize target must be the size itself (this processor does not resample). */
    void checkSize(int height, int width) {
        int factor = patch * merge;
        long pixels = (long) height * width;
        if (height % factor != 0 || width % factor != 0 || pixels < minPixels || pixels > maxPixels) {
            throw new IllegalArgumentException("image " + width + "×" + height + ": smart_resize would resample it (sides must be multiples of "
                    + factor + " px and the pixel count within [" + minPixels + ", " + maxPixels + "]); this processor handles only such sizes");
        }
    }

    /** [3][H][W]: (value · rescale_factor − mean) / std per channel, each step rounded to float32 as numpy does. */
    float[][][] normalize(BufferedImage img) {
        int h = img.getHeight();
        int w = img.getWidth();
        float[][][] out = new float[3][h][w];
        int[] rgb = img.getRGB(0, 0, w, h, null, 0, w);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int p = rgb[y * w + x];
                int[] v = {(p >> 16) & 0xff, (p >> 8) & 0xff, p & 0xff};
                for (int c = 0; c < 3; c++) {
                    float scaled = (float) (v[c] * rescale);
                    out[c][y][x] = (scaled - mean[c]) / std[c];
                }
            }
        }
        return out;
    }

    /**
     * image_processing_qwen2_vl.py's flattening of one frame [C][H][W] repeated to temporal_patch_size frames:
     * reshape(t, T, C, h/m, m, P, w/m, m, P) → transpose(0, 3, 6, 4, 7, 2, 1, 5, 8) → [t·h·w, C·T·P·P].
     */
    INDArray patchify(float[][][] image) {
        int channels = image.length;
        int gh = image[0].length / patch;
        int gw = image[0][0].length / patch;
        int volume = channels * temporal * patch * patch;
        float[] out = new float[gh * gw * volume];
        int row = 0;
        for (int bh = 0; bh < gh / merge; bh++) {
            for (int bw = 0; bw < gw / merge; bw++) {
                for (int ih = 0; ih < merge; ih++) {
                    for (int iw = 0; iw < merge; iw++, row++) {
                        int y0 = (bh * merge + ih) * patch;
                        int x0 = (bw * merge + iw) * patch;
                        int col = 0;
                        for (int c = 0; c < channels; c++) {
                            for (int t = 0; t < temporal; t++) {        // the single frame, repeated
                                for (int py = 0; py < patch; py++) {
                                    for (int px = 0; px < patch; px++) {
                                        out[row * volume + col++] = image[c][y0 + py][x0 + px];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return Nd4j.create(out, new long[] {(long) gh * gw, volume}, 'c');
    }

    @Override
    public void close() {
        tokenizer.close();
    }

    private static float[] floats(JsonNode config, String field, Path file) {
        JsonNode a = config.get(field);
        if (a == null || !a.isArray() || a.size() != 3) {
            throw new IllegalArgumentException(file + ": '" + field + "' must be a list of 3 numbers, got " + a);
        }
        return new float[] {(float) a.get(0).asDouble(), (float) a.get(1).asDouble(), (float) a.get(2).asDouble()};
    }

    private static double number(JsonNode config, String field, Path file) {
        JsonNode v = config.get(field);
        if (v == null || !v.isNumber()) throw new IllegalArgumentException(file + ": '" + field + "' is missing or not a number");
        return v.asDouble();
    }
}
