package org.mha2mla.layers.mla;

import java.io.Serializable;

import org.mha2mla.core.partialrope.MklScorer;
import org.mha2mla.core.partialrope.RopeStrategy;
import org.mha2mla.core.partialrope.TwoNormScorer;
import org.mha2mla.core.svd.ModalityCovariance;
import org.mha2mla.layers.VisionLanguageModel;

/**
 * The calibration passes a {@link Conversion} asks for, one decoder layer at a time, over the calibration samples and
 * their activations at that layer: on this machine ({@link LocalCalibration}) or spread over machines (each holding
 * some of the samples: the statistics are sums over samples, which add up exactly across them). Calls come in layer
 * order, for each layer first {@link #scorePairs} and {@link #attentionKl} (steps rope, all), then
 * {@link #kvInputCovariance} (steps svd, all); each call advances the activations it read to the next layer.
 */
public interface CalibrationPasses extends AutoCloseable {

    /** Calibration samples, and their text and visual tokens. */
    int samples();

    long textTokens();

    long visualTokens();

    /**
     * Runs layer {@code layer} of the input model over every sample and returns the pair statistics of
     * {@code scoring} (MKL or 2-norm; null for none); keeps q and k for {@link #attentionKl}.
     */
    PairScores scorePairs(int layer, RopeStrategy scoring);

    /** Σ over samples of the mean (over query heads) KL(full RoPE ‖ partial RoPE keeping {@code keptPairs} [n_kv][r]). */
    KlSum attentionKl(int layer, int[][] keptPairs);

    /**
     * Per-modality covariance of the k/v projections' input at layer {@code layer} of the model the factorisation is
     * calibrated on: the partial-RoPE model keeping {@code keptPairs} (step all) or the input model itself (step svd).
     */
    ModalityCovariance kvInputCovariance(int layer, int[][] keptPairs);

    @Override
    void close();

    /** Opens the passes of a conversion of {@code model} (on this machine or on others); see {@link Mha2MlaConverter#stream}. */
    @FunctionalInterface
    interface Opener {
        /** @param onSample called once per sample and layer pass (progress) */
        CalibrationPasses open(VisionLanguageModel model, Runnable onSample);
    }

    /** MKL or 2-norm pair statistics of one layer (one single-layer scorer, the other null); they add up over samples. */
    record PairScores(MklScorer mkl, TwoNormScorer twoNorm) implements Serializable {

        public static final PairScores NONE = new PairScores(null, null);

        /** The sum of two disjoint sample sets' statistics. */
        public PairScores merge(PairScores other) {
            return new PairScores(mkl == null ? other.mkl : other.mkl == null ? mkl : mkl.merge(other.mkl),
                    twoNorm == null ? other.twoNorm : other.twoNorm == null ? twoNorm : twoNorm.merge(other.twoNorm));
        }

        /** Scores [n_kv][d_h/2] of the layer, ready for {@code PartialRope.select}. */
        public double[][] scores() {
            if (mkl != null) return mkl.scores(0);
            if (twoNorm != null) return twoNorm.scores(0);
            throw new IllegalStateException("no pair statistics were collected");
        }
    }

    /** A sum of per-sample KL means and the number of samples; they add up over samples. */
    record KlSum(double sum, int samples) implements Serializable {

        public KlSum merge(KlSum other) {
            return new KlSum(sum + other.sum, samples + other.samples);
        }

        /** The mean over samples, NaN without samples. */
        public double mean() {
            return samples == 0 ? Double.NaN : sum / samples;
        }
    }

    /** Which scorer a strategy needs (null for the fixed strategies). */
    static RopeStrategy scoring(RopeStrategy strategy) {
        return strategy.needsScores() ? strategy : null;
    }
}
