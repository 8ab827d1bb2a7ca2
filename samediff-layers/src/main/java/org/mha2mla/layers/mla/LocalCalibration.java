package org.mha2mla.layers.mla;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.partialrope.KlScorer;
import org.mha2mla.core.partialrope.MklScorer;
import org.mha2mla.core.partialrope.PartialRope;
import org.mha2mla.core.partialrope.RopeSelection;
import org.mha2mla.core.partialrope.RopeStrategy;
import org.mha2mla.core.partialrope.TwoNormScorer;
import org.mha2mla.core.rope.CosSin;
import org.mha2mla.core.rope.Rope;
import org.mha2mla.core.svd.ModalityCovariance;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.text.AttentionMask;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.GqaAttention;
import org.mha2mla.layers.text.LayerwiseDecoder;
import org.mha2mla.layers.text.RopeTables;
import org.mha2mla.layers.text.TextDecoder;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * {@link CalibrationPasses} over samples on this machine. Every sample is embedded once (vision tower included); then
 * two streams of hidden states advance layer by layer ({@link ActivationStore}, in memory or on disk): the input
 * model's (pair scores and KL, or the SVD statistics for step svd) and, for step all, the partial-RoPE model's (SVD
 * statistics), whose layer l is built with the kept pairs chosen for it. Each layer's weights are widened once per
 * pass over all samples and released after ({@link LayerwiseDecoder.Residency#RELEASE}).
 */
public final class LocalCalibration implements CalibrationPasses {

    private final TextConfig text;
    private final int[][][] kept;
    private final LayerwiseDecoder input;
    private final LayerwiseDecoder partial;
    private final List<Sample> samples = new ArrayList<>();
    private final ActivationStore inputStates;
    private final ActivationStore partialStates;
    private final int maxQueryRows;
    private final Runnable onSample;
    private final List<INDArray[]> qk = new ArrayList<>();
    private long textTokens;
    private long visualTokens;

    /** One sample's positions, modality and the query rows its KL terms average over. */
    private record Sample(int length, RopeTables rope, INDArray modality, boolean[] visual, boolean[] rows) {
        DecoderInput input(INDArray h) {
            return new DecoderInput(h, rope, AttentionMask.causal(length, 0), modality);
        }

        CosSin tables(int headDim) {
            return new CosSin(rope.cos().reshape(length, headDim), rope.sin().reshape(length, headDim));
        }
    }

    /**
     * The passes of a conversion of {@code model} by {@code options}: its step (all keeps a second, partial-RoPE stream
     * of d_r as the conversion chooses it), the query positions per sample the KL terms average over
     * ({@code maxQueryRows}, 0: all), the activations kept in memory per stream before they go to {@code spillDir}
     * ({@code activationBudgetBytes}).
     *
     * @param model       the model being converted
     * @param calibration the samples of this machine
     * @param onSample    called after each sample of each layer pass (progress)
     */
    public LocalCalibration(VisionLanguageModel model, List<MultimodalInput> calibration, Mha2MlaConverter.Options options,
                            Runnable onSample) {
        Mha2MlaConfig.Step step = options.step();
        int ropeDim = Conversion.ropeDim(model, options);
        int maxQueryRows = options.maxQueryRows();
        long budgetBytes = options.activationBudgetBytes();
        Path spillDir = options.spillDir();
        this.text = model.config().textConfig();
        this.maxQueryRows = maxQueryRows;
        this.onSample = onSample;
        this.kept = PartialRope.select(RopeStrategy.HIGH, text.numHiddenLayers(), text.numKeyValueHeads(), text.headDim(), ropeDim, null).toArray();
        this.input = model.streamingDecoder();
        // The partial-RoPE stream runs on the original's runner: its pass of a layer finds the layer's weights already
        // widened to float32 by the original's, and the two streams hold one layer's buffers and one activation pool.
        this.partial = step == Mha2MlaConfig.Step.ALL
                ? input.sibling((sd, i) -> new PartialRopeAttention(sd, text, DecoderAttentions.key(model.decoderPrefix(), i),
                        new RopeSelection(text.headDim(), kept), i))
                : null;
        int[] lengths = new int[calibration.size()];
        List<INDArray> embeds = new ArrayList<>();
        for (int s = 0; s < calibration.size(); s++) {
            DecoderInput in = model.decoderInput(calibration.get(s));
            if (in.inputsEmbeds().size(0) != 1) throw new IllegalArgumentException("calibration runs one sample at a time");
            int length = in.length();
            boolean[] visual = new boolean[length];
            for (int i = 0; i < length; i++) {
                visual[i] = in.modality().getFloat(0, i) == DecoderInput.VISUAL;
                if (visual[i]) visualTokens++; else textTokens++;
            }
            samples.add(new Sample(length, in.rope(), in.modality(), visual, queryRows(length)));
            lengths[s] = length;
            embeds.add(in.inputsEmbeds());
        }
        this.inputStates = new ActivationStore(lengths, text.hiddenSize(), budgetBytes, spillDir);
        for (int s = 0; s < embeds.size(); s++) inputStates.put(s, embeds.get(s));
        this.partialStates = partial == null ? null : new ActivationStore(lengths, text.hiddenSize(), budgetBytes, spillDir);
        if (partialStates != null) for (int s = 0; s < embeds.size(); s++) partialStates.put(s, embeds.get(s));
    }

    /** Evenly spaced query positions (always the last one), or null for all. */
    private boolean[] queryRows(int length) {
        if (maxQueryRows <= 0 || length <= maxQueryRows) return null;
        boolean[] rows = new boolean[length];
        for (int i = 0; i < maxQueryRows; i++) rows[(int) ((long) (length - 1) * (i + 1) / maxQueryRows)] = true;
        return rows;
    }

    @Override
    public int samples() {
        return samples.size();
    }

    @Override
    public long textTokens() {
        return textTokens;
    }

    @Override
    public long visualTokens() {
        return visualTokens;
    }

    @Override
    public PairScores scorePairs(int layer, RopeStrategy scoring) {
        int nH = text.numAttentionHeads();
        int nKv = text.numKeyValueHeads();
        int dH = text.headDim();
        MklScorer mkl = scoring == RopeStrategy.MKL ? new MklScorer(1, nH, nKv, dH) : null;
        TwoNormScorer twoNorm = scoring == RopeStrategy.TWO_NORM ? new TwoNormScorer(1, nH, nKv, dH) : null;
        String scope = TextDecoder.attentionScope(layer);
        List<String> wanted = List.of(GqaAttention.queryBeforeRope(scope), GqaAttention.keyBeforeRope(scope));
        boolean last = layer == text.numHiddenLayers() - 1;
        qk.clear();
        for (int s = 0; s < samples.size(); s++) {
            Sample sample = samples.get(s);
            INDArray h = inputStates.get(s);
            Map<String, INDArray> out = input.layer(layer, h, sample.input(h), wanted);
            INDArray q = heads(out.get(wanted.get(0)));
            INDArray k = heads(out.get(wanted.get(1)));
            CosSin tables = sample.tables(dH);
            if (mkl != null) mkl.accumulate(0, Rope.applyRotary(q, tables.cos(), tables.sin()), Rope.applyRotary(k, tables.cos(), tables.sin()), sample.rows());
            if (twoNorm != null) twoNorm.accumulate(0, q, k);
            qk.add(new INDArray[]{q, k});
            if (!last) inputStates.put(s, out.get(LayerwiseDecoder.OUT));
            collectSampleGarbage();
            onSample.run();
        }
        return new PairScores(mkl, twoNorm);
    }

    @Override
    public KlSum attentionKl(int layer, int[][] keptPairs) {
        kept[layer] = keptPairs.clone();
        boolean[][] masks = new RopeSelection(text.headDim(), kept).keyMasks(layer);
        double sum = 0;
        for (int s = 0; s < qk.size(); s++) {
            Sample sample = samples.get(s);
            double[] perHead = KlScorer.partialRopeKl(qk.get(s)[0], qk.get(s)[1], sample.tables(text.headDim()), masks, true, sample.rows());
            double mean = 0;
            for (double v : perHead) mean += v / perHead.length;
            sum += mean;
            collectSampleGarbage();
        }
        int n = qk.size();
        qk.clear();
        return new KlSum(sum, n);
    }

    @Override
    public ModalityCovariance kvInputCovariance(int layer, int[][] keptPairs) {
        kept[layer] = keptPairs.clone();
        LayerwiseDecoder decoder = partial != null ? partial : input;
        ActivationStore states = partial != null ? partialStates : inputStates;
        ModalityCovariance cov = new ModalityCovariance(text.hiddenSize());
        List<String> wanted = List.of(TextDecoder.attentionInput(layer));
        boolean last = layer == text.numHiddenLayers() - 1;
        for (int s = 0; s < samples.size(); s++) {
            Sample sample = samples.get(s);
            INDArray h = states.get(s);
            Map<String, INDArray> out = decoder.layer(layer, h, sample.input(h), wanted);
            cov.add(out.get(wanted.get(0)).reshape(sample.length(), text.hiddenSize()), sample.visual());
            if (!last) states.put(s, out.get(LayerwiseDecoder.OUT));
            collectSampleGarbage();
            onSample.run();
        }
        return cov;
    }

    /**
     * A sample's pass leaves its op outputs off-heap until the JVM collects their wrappers, which a quiet heap rarely
     * does: LLaVA-1.5-7B's calibration (32 heads, 607 tokens, 8 samples) reached 23.8 GB of anonymous memory within
     * one layer's passes and was killed. One collection per sample costs tens of milliseconds against seconds per pass.
     */
    private static void collectSampleGarbage() {
        System.gc();
    }

    /** [1, heads, L, d_h] → [heads, L, d_h] (a c-order copy detached from the graph's output). */
    private static INDArray heads(INDArray x) {
        return x.reshape(x.size(1), x.size(2), x.size(3)).dup('c');
    }

    @Override
    public void close() {
        input.close();
        if (partial != null) partial.close();
        inputStates.close();
        if (partialStates != null) partialStates.close();
    }
}
