package org.mha2mla.layers.qwen25vl;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.mha2mla.core.config.Qwen25VlConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.rope.CosSin;
import org.mha2mla.core.rope.MRope;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.text.AttentionMask;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.Params;
import org.mha2mla.layers.text.TextDecoder;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Qwen2_5_VLForConditionalGeneration as ONE differentiable graph, for training every parameter (the demo
 * pretrains a model from scratch): pixel_values → vision tower → merged features placed at the image tokens →
 * decoder → logits. {@link Qwen25VlModel} instead runs the tower as inference and writes its rows into the
 * embeddings in Java, which no gradient can cross.
 *
 * <p>Neither the embedding lookup nor the masked_scatter of image features is a gather here (SameDiff M2.1
 * cannot differentiate a graph with two gathers):
 * <pre>
 *   inputs_embeds[b] = onehot[b] · embed_tokens  +  S[b] · image_embeds[b]
 * </pre>
 * with {@code onehot} [B, L, vocab] zero on image tokens and padding, and {@code S} [B, L, U] the 0/1 selection
 * that puts merged unit u at the u-th image token of row b. Each batch row holds one image; the images of a batch
 * share their grid, so the tower runs them as one batch of n×n attentions.
 *
 * <p>Same names as the inference graph: weights under the hub keys, decoder placeholders {@code cos}, {@code sin},
 * {@code attention_mask}, {@code modality}, output {@link TextDecoder#LOGITS}.
 */
public final class Qwen25VlTrainingGraph {

    /** FLOAT [B, L, vocab]: one-hot token ids, zero rows at image tokens and padding. */
    public static final String TOKEN_ONE_HOT = "token_one_hot";
    /** FLOAT [B, L, U]: 1 at (b, t, u) where t is the u-th image token of row b. */
    public static final String IMAGE_SELECTION = "image_selection";
    static final String SCOPE = "vision";

    private final Qwen25VlConfig config;
    private final SameDiff sd;
    private final Qwen25VlVisionTower tower;
    private final TextDecoder decoder;

    /** Builds the graph over {@code weights}, whose variables are the checkpoint tensors under hub keys. */
    public Qwen25VlTrainingGraph(Qwen25VlConfig config, SameDiff weights) {
        this.config = config;
        this.sd = weights;
        TextConfig text = config.textConfig();
        long vocab = text.vocabSize();
        long d = text.hiddenSize();
        this.tower = new Qwen25VlVisionTower(sd, config.visionConfig(), Qwen25VlModel.VISION_PREFIX, SCOPE);

        SDVariable embedTokens = Params.get(sd, Qwen25VlModel.LANGUAGE_MODEL + "embed_tokens.weight", vocab, d);
        SDVariable oneHot = sd.placeHolder(TOKEN_ONE_HOT, DataType.FLOAT, -1, -1, vocab);
        SDVariable selection = sd.placeHolder(IMAGE_SELECTION, DataType.FLOAT, -1, -1, -1);
        SDVariable tokens = sd.reshape(sd.mmul(sd.reshape(oneHot, -1, vocab), embedTokens), sd.concat(0,
                sd.slice(oneHot.shape(), new int[] {0}, 2), sd.constant(Nd4j.createFromArray(d))));       // [B, L, d]
        SDVariable embeds = tokens.add("inputs_embeds_merged", sd.mmul(selection, tower.imageEmbeds()));
        this.decoder = TextDecoder.withGqa(sd, text, Qwen25VlModel.LANGUAGE_MODEL, Qwen25VlModel.LM_HEAD, embeds);
    }

    public Qwen25VlConfig config() {
        return config;
    }

    public SameDiff sameDiff() {
        return sd;
    }

    public TextDecoder decoder() {
        return decoder;
    }

    public Qwen25VlVisionTower visionTower() {
        return tower;
    }

    /** The logits variable [B, L, vocab] a loss is built on. */
    public SDVariable logits() {
        return sd.getVariable(TextDecoder.LOGITS);
    }

    /**
     * The placeholders for a batch of processed prompts, right-padded to the longest: padding positions carry no
     * token, are masked as keys and get the identity rotation (cos 1, sin 0). Every prompt must hold exactly one
     * image, all of one grid.
     */
    public Map<String, INDArray> feed(List<MultimodalInput> batch) {
        if (batch.isEmpty()) throw new IllegalArgumentException("empty batch");
        int b = batch.size();
        int length = batch.stream().mapToInt(MultimodalInput::length).max().orElseThrow();
        TextConfig text = config.textConfig();
        int vocab = text.vocabSize();
        int dH = text.headDim();
        int[] grid = batch.get(0).imageGridThw() == null ? null : batch.get(0).imageGridThw()[0];
        int units = grid == null ? 0 : grid[0] * grid[1] * grid[2]
                / (config.visionConfig().spatialMergeSize() * config.visionConfig().spatialMergeSize());

        float[] oneHot = new float[b * length * vocab];
        float[] selection = new float[b * length * units];
        float[] cos = new float[b * length * dH];
        float[] sin = new float[b * length * dH];
        float[] modality = new float[b * length];
        long[][] keep = new long[b][length];
        INDArray[] pixels = new INDArray[b];
        for (int i = 0; i < b; i++) {
            MultimodalInput in = batch.get(i);
            if (!in.hasImage() || in.imageGridThw() == null || in.imageGridThw().length != 1
                    || !Arrays.equals(in.imageGridThw()[0], grid)) {
                throw new IllegalArgumentException("training batch row " + i + ": expected one image of grid " + Arrays.toString(grid)
                        + ", got image_grid_thw " + (in.imageGridThw() == null ? "none" : Arrays.deepToString(in.imageGridThw())));
            }
            pixels[i] = in.pixelValues();
            long[] ids = in.inputIds();
            int u = 0;
            for (int t = 0; t < ids.length; t++) {
                long id = ids[t];
                if (id < 0 || id >= vocab) {
                    throw new IllegalArgumentException("training batch row " + i + ": token id " + id + " at position " + t
                            + " is outside the vocabulary [0, " + vocab + ")");
                }
                if (id == config.imageTokenId()) {
                    if (u < units) selection[(i * length + t) * units + u] = 1f;
                    u++;
                } else {
                    oneHot[(i * length + t) * vocab + (int) id] = 1f;
                }
                modality[i * length + t] = Qwen25VlModel.isVisualToken(config, id) ? DecoderInput.VISUAL : DecoderInput.TEXT;
                keep[i][t] = 1;
            }
            if (u != units) {
                throw new IllegalArgumentException("Image features and image tokens do not match in training batch row " + i
                        + ": tokens: " + u + ", features " + units + " (image token id " + config.imageTokenId() + ")");
            }
            CosSin table = MRope.cosSin(ropeIndex(ids, in.imageGridThw()).positionIds(), dH, text.ropeTheta(), text.mropeSection());
            float[] c = table.cos().data().asFloat();
            float[] s = table.sin().data().asFloat();
            System.arraycopy(c, 0, cos, i * length * dH, c.length);
            System.arraycopy(s, 0, sin, i * length * dH, s.length);
            Arrays.fill(cos, i * length * dH + c.length, (i + 1) * length * dH, 1f);   // padding: identity rotation
        }
        INDArray pixelBatch = Nd4j.stack(0, pixels);
        Map<String, INDArray> feed = new HashMap<>(tower.batchPlaceholders(pixelBatch, grid));
        feed.put(TOKEN_ONE_HOT, Nd4j.create(oneHot, new long[] {b, length, vocab}, 'c'));
        feed.put(IMAGE_SELECTION, Nd4j.create(selection, new long[] {b, length, units}, 'c'));
        feed.put(TextDecoder.COS, Nd4j.create(cos, new long[] {b, 1, length, dH}, 'c'));
        feed.put(TextDecoder.SIN, Nd4j.create(sin, new long[] {b, 1, length, dH}, 'c'));
        feed.put(TextDecoder.ATTENTION_MASK, AttentionMask.causal(keep, length));
        feed.put(TextDecoder.MODALITY, Nd4j.create(modality, new long[] {b, length}, 'c'));
        return feed;
    }

    private MRope.RopeIndex ropeIndex(long[] ids, int[][] grid) {
        int[] tokens = new int[ids.length];
        for (int i = 0; i < ids.length; i++) tokens[i] = Math.toIntExact(ids[i]);
        return MRope.positionIds(tokens, grid, config.visionConfig().spatialMergeSize(), config.imageTokenId(),
                config.visionStartTokenId());
    }
}
