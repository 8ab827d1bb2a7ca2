package org.mha2mla.core.svd;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Per-layer activation statistics split by modality: every token goes to the text or the visual
 * accumulator according to its modality flag (visual = image tokens, and for Qwen2.5-VL also the vision
 * start/end tokens, as the MHA2MLA-VLM reference does). Serializable, so that the statistics of samples on other
 * machines come back to be added up ({@link #addAll}).
 */
public final class ModalityCovariance implements java.io.Serializable {

    private static final long serialVersionUID = 1L;

    private final CovarianceAccumulator text;
    private final CovarianceAccumulator visual;

    /** Empty statistics for d-dimensional activations. */
    public ModalityCovariance(int dim) {
        this.text = new CovarianceAccumulator(dim);
        this.visual = new CovarianceAccumulator(dim);
    }

    /** Adds x [N, d]; visual[i] says whether token i is visual. */
    public void add(INDArray x, boolean[] visualMask) {
        boolean[] textMask = new boolean[visualMask.length];
        for (int i = 0; i < visualMask.length; i++) {
            textMask[i] = !visualMask[i];
        }
        visual.add(x, visualMask);
        text.add(x, textMask);
    }

    /** Text-token statistics. */
    public CovarianceAccumulator text() {
        return text;
    }

    /** Visual-token statistics. */
    public CovarianceAccumulator visual() {
        return visual;
    }

    /** Adds another accumulator's tokens (disjoint calibration samples, e.g. from another machine) into this one. */
    public ModalityCovariance addAll(ModalityCovariance other) {
        text.addAll(other.text);
        visual.addAll(other.visual);
        return this;
    }

    /** Statistics of all tokens together (for the SVD-LLM baseline). */
    public CovarianceAccumulator allTokens() {
        return text.merge(visual);
    }
}
