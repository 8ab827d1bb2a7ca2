package org.mha2mla.trainer;

import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.mha2mla.core.Limits;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.text.AttentionMask;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.RopeTables;
import org.mha2mla.layers.text.TextDecoder;
import org.mha2mla.trainer.data.TrainingExample;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * One forward/backward pass worth of examples, right-padded to the longest: the decoder placeholders
 * ({@code inputs_embeds}, {@code cos}, {@code sin}, {@code attention_mask}, {@code modality}) and the shifted targets. Padding
 * positions are masked as keys (2-D attention_mask = 0) and carry no target, so an example's loss and gradient
 * do not depend on what it is batched with; padded RoPE rows are cos = 1, sin = 0 (the identity rotation).
 *
 * @param feed      the decoder's placeholders
 * @param targets   [B][L] next-token targets, −100 on prompt, image and padding positions
 * @param tokens    real (unpadded) tokens
 */
public record MicroBatch(Map<String, INDArray> feed, long[][] targets, int tokens) implements GradientSource.Batch {

    @Override
    public void release() {
        for (INDArray a : feed.values()) {
            if (a != null && !a.wasClosed() && a.closeable()) a.close();
        }
    }

    /** The decoder's placeholders of {@code examples}, through the model's own decoder input (vision tower as inference). */
    public static MicroBatch of(VisionLanguageModel model, List<TrainingExample> examples) {
        if (examples.isEmpty()) throw new IllegalArgumentException("empty micro-batch");
        int b = examples.size();
        int length = examples.stream().mapToInt(TrainingExample::length).max().orElseThrow();
        Limits.requireAttentionMask("micro-batch of " + b + " examples of up to " + length + " tokens", b, length, length);
        INDArray[] embeds = new INDArray[b];
        INDArray[] cos = new INDArray[b];
        INDArray[] sin = new INDArray[b];
        INDArray[] modality = new INDArray[b];
        long[][] keep = new long[b][length];
        long[][] targets = new long[b][];
        int tokens = 0;
        for (int i = 0; i < b; i++) {
            TrainingExample ex = examples.get(i);
            DecoderInput in = model.decoderInput(ex.input());
            int l = ex.length();
            embeds[i] = padSequence(in.inputsEmbeds(), 1, length, 0);          // [1, L, d]
            cos[i] = padSequence(in.rope().cos(), 2, length, 1);               // [1, 1|h, L, d_h]
            sin[i] = padSequence(in.rope().sin(), 2, length, 0);
            modality[i] = padSequence(in.modality(), 1, length, DecoderInput.TEXT);  // [1, L]
            Arrays.fill(keep[i], 0, l, 1);
            targets[i] = Arrays.copyOf(ex.targets(), length);
            Arrays.fill(targets[i], l, length, LossMask.IGNORE_INDEX);
            tokens += l;
        }
        Map<String, INDArray> feed = new HashMap<>();
        // Fresh c-order arrays: views fed as placeholders are misread (samediff-layers' measurement).
        feed.put(TextDecoder.INPUTS_EMBEDS, Nd4j.concat(0, embeds).dup('c'));
        feed.put(TextDecoder.COS, Nd4j.concat(0, cos).dup('c'));
        feed.put(TextDecoder.SIN, Nd4j.concat(0, sin).dup('c'));
        feed.put(TextDecoder.ATTENTION_MASK, AttentionMask.causal(keep, length));
        feed.put(TextDecoder.MODALITY, Nd4j.concat(0, modality).dup('c'));
        return new MicroBatch(feed, targets, tokens);
    }

    /** The decoder input of one micro-batch's placeholders (the layer-by-layer source runs the decoder on it). */
    public DecoderInput decoderInput() {
        return new DecoderInput(feed.get(TextDecoder.INPUTS_EMBEDS), new RopeTables(feed.get(TextDecoder.COS), feed.get(TextDecoder.SIN)),
                feed.get(TextDecoder.ATTENTION_MASK), feed.get(TextDecoder.MODALITY));
    }

    /** {@code x} extended along {@code axis} to {@code length} with {@code fill}. */
    static INDArray padSequence(INDArray x, int axis, int length, double fill) {
        long have = x.size(axis);
        if (have == length) return x;
        long[] shape = x.shape().clone();
        shape[axis] = length;
        INDArray out = Nd4j.valueArrayOf(shape, fill, x.dataType());
        org.nd4j.linalg.indexing.INDArrayIndex[] at = new org.nd4j.linalg.indexing.INDArrayIndex[shape.length];
        for (int i = 0; i < shape.length; i++) at[i] = i == axis ? NDArrayIndex.interval(0, have) : NDArrayIndex.all();
        out.get(at).assign(x);
        return out;
    }
}
