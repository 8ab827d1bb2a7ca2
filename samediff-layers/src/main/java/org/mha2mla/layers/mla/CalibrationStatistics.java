package org.mha2mla.layers.mla;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.partialrope.KlScorer;
import org.mha2mla.core.partialrope.MklScorer;
import org.mha2mla.core.partialrope.RopeSelection;
import org.mha2mla.core.partialrope.RopeStrategy;
import org.mha2mla.core.partialrope.TwoNormScorer;
import org.mha2mla.core.rope.CosSin;
import org.mha2mla.core.rope.Rope;
import org.mha2mla.core.svd.ModalityCovariance;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.GqaAttention;
import org.mha2mla.layers.text.LayerwiseDecoder;
import org.mha2mla.layers.text.TextDecoder;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * What one pass over the calibration samples collects per decoder layer, from the model's own forward pass:
 * <ul>
 *   <li>the per-modality covariance of the k/v projections' input (the normed hidden states, each token's modality
 *       from {@link DecoderInput#modality}) for MD-SVD and its baselines;</li>
 *   <li>pair scores from q and k before RoPE: MKL (attention KL with the pair zeroed, after the model's own RoPE or
 *       M-RoPE rotation, so M-RoPE positions stay 3-D) or head-wise 2-norm;</li>
 *   <li>for a given selection, the attention KL of full RoPE vs partial RoPE ({@link KlScorer#partialRopeKl}), mean
 *       over query heads and samples: the figure strategies are compared by.</li>
 * </ul>
 * KL terms average over at most {@code maxQueryRows} evenly spaced query positions per sample (all when 0):
 * their cost grows with L².
 */
final class CalibrationStatistics {

    private final VisionLanguageModel model;
    private final TextConfig text;
    private final int maxQueryRows;
    private final ModalityCovariance[] covariance;
    private final MklScorer mkl;
    private final TwoNormScorer twoNorm;
    private final RopeSelection klSelection;
    private final double[] klSum;
    private int klSamples;
    private long textTokens;
    private long visualTokens;

    /**
     * @param covariance collect the k/v input statistics
     * @param scores     MKL or TWO_NORM to score pairs, anything else (or null) for none
     * @param klOf       the selection whose attention KL to measure, or null
     */
    CalibrationStatistics(VisionLanguageModel model, boolean covariance, RopeStrategy scores, RopeSelection klOf, int maxQueryRows) {
        this.model = model;
        this.text = model.config().textConfig();
        int layers = text.numHiddenLayers();
        this.maxQueryRows = maxQueryRows;
        this.covariance = covariance ? new ModalityCovariance[layers] : null;
        if (covariance) {
            for (int l = 0; l < layers; l++) this.covariance[l] = new ModalityCovariance(text.hiddenSize());
        }
        this.mkl = scores == RopeStrategy.MKL ? new MklScorer(layers, text.numAttentionHeads(), text.numKeyValueHeads(), text.headDim()) : null;
        this.twoNorm = scores == RopeStrategy.TWO_NORM
                ? new TwoNormScorer(layers, text.numAttentionHeads(), text.numKeyValueHeads(), text.headDim()) : null;
        this.klSelection = klOf;
        this.klSum = new double[layers];
    }

    /** Runs the model on one sample and adds what it yields. */
    void add(MultimodalInput sample) {
        DecoderInput in = model.decoderInput(sample);
        int layers = text.numHiddenLayers();
        boolean needQk = mkl != null || twoNorm != null || klSelection != null;
        List<String> names = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            if (covariance != null) names.add(TextDecoder.attentionInput(l));
            if (needQk) {
                names.add(GqaAttention.queryBeforeRope(TextDecoder.attentionScope(l)));
                names.add(GqaAttention.keyBeforeRope(TextDecoder.attentionScope(l)));
            }
        }
        Map<String, INDArray> out = new java.util.HashMap<>();
        model.decoder().forward(in, new LayerwiseDecoder.LayerHook() {
            @Override
            public List<String> outputs(int layer) {
                List<String> wanted = new ArrayList<>();
                for (String n : names) if (n.startsWith(TextDecoder.layerScope(layer) + "/")) wanted.add(n);
                return wanted;
            }

            @Override
            public void accept(int layer, Map<String, INDArray> outputs) {
                outputs.forEach((k, v) -> {
                    if (!k.equals(LayerwiseDecoder.OUT)) out.put(k, v);
                });
            }
        });
        int length = in.length();
        if (in.inputsEmbeds().size(0) != 1) {
            throw new IllegalArgumentException("calibration runs one sample at a time, got a batch of " + in.inputsEmbeds().size(0));
        }
        boolean[] visual = new boolean[length];
        for (int i = 0; i < length; i++) {
            visual[i] = in.modality().getFloat(0, i) == DecoderInput.VISUAL;
            if (visual[i]) visualTokens++; else textTokens++;
        }
        CosSin tables = new CosSin(in.rope().cos().reshape(length, text.headDim()), in.rope().sin().reshape(length, text.headDim()));
        boolean[] rows = queryRows(length);
        for (int l = 0; l < layers; l++) {
            if (covariance != null) {
                covariance[l].add(out.get(TextDecoder.attentionInput(l)).reshape(length, text.hiddenSize()), visual);
            }
            if (!needQk) continue;
            INDArray q = heads(out.get(GqaAttention.queryBeforeRope(TextDecoder.attentionScope(l))));
            INDArray k = heads(out.get(GqaAttention.keyBeforeRope(TextDecoder.attentionScope(l))));
            if (mkl != null) {
                mkl.accumulate(l, Rope.applyRotary(q, tables.cos(), tables.sin()), Rope.applyRotary(k, tables.cos(), tables.sin()), rows);
            }
            if (twoNorm != null) twoNorm.accumulate(l, q, k);
            if (klSelection != null) {
                double[] perHead = KlScorer.partialRopeKl(q, k, tables, klSelection.keyMasks(l), true, rows);
                double mean = 0;
                for (double v : perHead) mean += v / perHead.length;
                klSum[l] += mean;
            }
        }
        if (klSelection != null) klSamples++;
    }

    /** [1, heads, L, d_h] → [heads, L, d_h] (a c-order copy detached from the graph's output). */
    private static INDArray heads(INDArray x) {
        return x.reshape(x.size(1), x.size(2), x.size(3)).dup('c');
    }

    /** Evenly spaced query positions (always the last one), or null for all. */
    private boolean[] queryRows(int length) {
        if (maxQueryRows <= 0 || length <= maxQueryRows) return null;
        boolean[] rows = new boolean[length];
        for (int i = 0; i < maxQueryRows; i++) rows[(int) ((long) (length - 1) * (i + 1) / maxQueryRows)] = true;
        return rows;
    }

    ModalityCovariance covariance(int layer) {
        return covariance[layer];
    }

    /** Pair scores [layer][n_kv][d_h/2] of the strategy collected. */
    double[][][] scores() {
        if (mkl != null) return mkl.scores();
        if (twoNorm != null) return twoNorm.scores();
        throw new IllegalStateException("no pair scores were collected");
    }

    /** Mean attention KL (full RoPE ‖ partial RoPE of the selection) of a layer; NaN when not measured. */
    double selectionKl(int layer) {
        return klSamples == 0 ? Double.NaN : klSum[layer] / klSamples;
    }

    long textTokens() {
        return textTokens;
    }

    long visualTokens() {
        return visualTokens;
    }
}
