package org.mha2mla.core.partialrope;

import java.util.Arrays;
import java.util.stream.IntStream;
import org.mha2mla.core.linalg.LinearAlgebra;
import org.mha2mla.core.rope.CosSin;
import org.mha2mla.core.rope.Rope;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Attention-distribution KL divergences of one layer and one sample, the measure behind MKL.
 *
 * <p>Inputs are q [n_h, L, d_h] and k [n_kv, L, d_h] (GQA: query head h reads KV head h / (n_h/n_kv)).
 * Attention is softmax(q·kᵀ/√d_h) over the causally visible keys, in float64. Every result is a mean over
 * query positions (optionally only those of {@code queryMask}, e.g. a subsample to bound the O(L²·d_h/2)
 * cost), per query head.
 *
 * <p>Removing pair k subtracts c_j = (q_k·k_{j,k} + q_{k+d/2}·k_{j,k+d/2})/√d_h from logit j, so with
 * P = softmax(s) and Q ∝ P·e^{−c}: KL(P‖Q) = E_P[c] + log E_P[e^{−c}] = log E_P[e^{−(c − E_P[c])}].
 * The centred form keeps the exponent small and the sum near 1, so the absolute error stays ~1e-16
 * even for pairs whose removal barely matters. Plain Java loops rather than ND4J ops: causal row i
 * touches only its i + 1 keys, and no L×L matrix per pair is materialised. Heads run in parallel.
 */
public final class KlScorer {

    private KlScorer() {
    }

    /** KL(p ‖ q) of two probability vectors (terms with p = 0 contribute 0). */
    public static double kl(double[] p, double[] q) {
        if (p.length != q.length) {
            throw new IllegalArgumentException("distributions differ in length: " + p.length + " vs " + q.length);
        }
        double s = 0;
        for (int i = 0; i < p.length; i++) {
            if (p[i] > 0) {
                s += p[i] * Math.log(p[i] / q[i]);
            }
        }
        return s;
    }

    /**
     * Per query head and pair: mean over query positions of KL(P_full ‖ P_without_pair), where the pair's
     * two dims are zeroed in both q and k (q, k after RoPE). Shape [n_h][d_h/2].
     */
    public static double[][] pairKl(INDArray q, INDArray k, boolean causal, boolean[] queryMask) {
        Shapes s = Shapes.of(q, k, queryMask);
        double[][][] qh = perHead(q);
        double[][][] kh = perHead(k);
        int[] rows = s.rows(queryMask);
        double[][] out = new double[s.numHeads][];
        IntStream.range(0, s.numHeads).parallel().forEach(h ->
                out[h] = pairKlOneHead(qh[h], kh[h / s.group], rows, causal, s.scale));
        return out;
    }

    /**
     * Per query head: mean KL(P_full ‖ P_selection) where every dim outside the KV head's mask is zeroed in
     * q and k (only the kept pairs remain in the logits). kvHeadDimMasks is [n_kv][d_h].
     */
    public static double[] selectionKl(INDArray q, INDArray k, boolean[][] kvHeadDimMasks, boolean causal,
                                       boolean[] queryMask) {
        Shapes s = Shapes.of(q, k, queryMask);
        checkMasks(kvHeadDimMasks, s);
        double[][][] qh = perHead(q);
        double[][][] kh = perHead(k);
        int[] rows = s.rows(queryMask);
        double[] out = new double[s.numHeads];
        IntStream.range(0, s.numHeads).parallel().forEach(h -> {
            boolean[] mask = kvHeadDimMasks[h / s.group];
            double[][] qm = zeroOutside(qh[h], mask);
            double[][] km = zeroOutside(kh[h / s.group], mask);
            out[h] = meanKl(qh[h], kh[h / s.group], qm, km, rows, causal, s.scale);
        });
        return out;
    }

    /**
     * Per query head: mean KL(P_full ‖ P_partial) of the partial-RoPE model before any training, from
     * q, k BEFORE rotation: full RoPE on every dim vs rotation on the kept dims only (NoPE dims unrotated).
     */
    public static double[] partialRopeKl(INDArray qRaw, INDArray kRaw, CosSin tables, boolean[][] kvHeadDimMasks,
                                         boolean causal, boolean[] queryMask) {
        Shapes s = Shapes.of(qRaw, kRaw, queryMask);
        checkMasks(kvHeadDimMasks, s);
        INDArray q = LinearAlgebra.toDouble(qRaw);
        INDArray k = LinearAlgebra.toDouble(kRaw);
        boolean[][] queryMasks = new boolean[s.numHeads][];
        for (int h = 0; h < s.numHeads; h++) {
            queryMasks[h] = kvHeadDimMasks[h / s.group];
        }
        double[][][] qFull = perHead(Rope.applyRotary(q, tables.cos(), tables.sin()));
        double[][][] kFull = perHead(Rope.applyRotary(k, tables.cos(), tables.sin()));
        double[][][] qPart = perHead(PartialRope.applyRotary(q, tables, queryMasks));
        double[][][] kPart = perHead(PartialRope.applyRotary(k, tables, kvHeadDimMasks));
        int[] rows = s.rows(queryMask);
        double[] out = new double[s.numHeads];
        IntStream.range(0, s.numHeads).parallel().forEach(h -> out[h] =
                meanKl(qFull[h], kFull[h / s.group], qPart[h], kPart[h / s.group], rows, causal, s.scale));
        return out;
    }

    // ---------------------------------------------------------------------------------------------

    private static double[] pairKlOneHead(double[][] q, double[][] k, int[] rows, boolean causal, double scale) {
        int d = q[0].length;
        int half = d / 2;
        int length = k.length;
        double[] sum = new double[half];
        double[] p = new double[length];
        double[] c = new double[length];
        for (int i : rows) {
            int n = causal ? i + 1 : length;
            softmaxRow(q[i], k, n, scale, p);
            for (int pair = 0; pair < half; pair++) {
                double qa = q[i][pair] * scale;
                double qb = q[i][pair + half] * scale;
                double mean = 0;
                for (int j = 0; j < n; j++) {
                    c[j] = qa * k[j][pair] + qb * k[j][pair + half];
                    mean += p[j] * c[j];
                }
                double z = 0;
                for (int j = 0; j < n; j++) {
                    z += p[j] * Math.exp(mean - c[j]);
                }
                // z ≥ 1 by Jensen; rounding can put it a hair below
                sum[pair] += Math.max(Math.log(z), 0.0);
            }
        }
        for (int pair = 0; pair < half; pair++) {
            sum[pair] /= rows.length;
        }
        return sum;
    }

    /** Mean over rows of KL(softmax(qa·kaᵀ) ‖ softmax(qb·kbᵀ)). */
    private static double meanKl(double[][] qa, double[][] ka, double[][] qb, double[][] kb, int[] rows,
                                 boolean causal, double scale) {
        int length = ka.length;
        double[] la = new double[length];
        double[] lb = new double[length];
        double total = 0;
        for (int i : rows) {
            int n = causal ? i + 1 : length;
            logits(qa[i], ka, n, scale, la);
            logits(qb[i], kb, n, scale, lb);
            double lseA = logSumExp(la, n);
            double lseB = logSumExp(lb, n);
            double kl = 0;
            for (int j = 0; j < n; j++) {
                double logPa = la[j] - lseA;
                kl += Math.exp(logPa) * (logPa - (lb[j] - lseB));
            }
            total += Math.max(kl, 0.0);
        }
        return total / rows.length;
    }

    private static void softmaxRow(double[] qi, double[][] k, int n, double scale, double[] p) {
        logits(qi, k, n, scale, p);
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            max = Math.max(max, p[j]);
        }
        double z = 0;
        for (int j = 0; j < n; j++) {
            p[j] = Math.exp(p[j] - max);
            z += p[j];
        }
        for (int j = 0; j < n; j++) {
            p[j] /= z;
        }
    }

    private static void logits(double[] qi, double[][] k, int n, double scale, double[] out) {
        for (int j = 0; j < n; j++) {
            double[] kj = k[j];
            double s = 0;
            for (int t = 0; t < qi.length; t++) {
                s += qi[t] * kj[t];
            }
            out[j] = s * scale;
        }
    }

    private static double logSumExp(double[] x, int n) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            max = Math.max(max, x[j]);
        }
        double z = 0;
        for (int j = 0; j < n; j++) {
            z += Math.exp(x[j] - max);
        }
        return max + Math.log(z);
    }

    private static double[][] zeroOutside(double[][] x, boolean[] mask) {
        double[][] y = new double[x.length][];
        for (int i = 0; i < x.length; i++) {
            y[i] = x[i].clone();
            for (int t = 0; t < mask.length; t++) {
                if (!mask[t]) {
                    y[i][t] = 0;
                }
            }
        }
        return y;
    }

    private static double[][][] perHead(INDArray x) {
        INDArray xd = LinearAlgebra.toDouble(x);
        double[][][] out = new double[(int) x.size(0)][][];
        for (int h = 0; h < out.length; h++) {
            out[h] = xd.get(NDArrayIndex.point(h), NDArrayIndex.all(), NDArrayIndex.all()).toDoubleMatrix();
        }
        return out;
    }

    private static void checkMasks(boolean[][] masks, Shapes s) {
        if (masks.length != s.kvHeads) {
            throw new IllegalArgumentException(masks.length + " dim masks for " + s.kvHeads + " KV heads");
        }
        for (boolean[] m : masks) {
            if (m.length != s.headDim) {
                throw new IllegalArgumentException("dim mask of length " + m.length + ", expected d_h = " + s.headDim);
            }
        }
    }

    /** Validated shapes of one layer's q and k. */
    private record Shapes(int numHeads, int kvHeads, int length, int headDim, int group, double scale) {

        static Shapes of(INDArray q, INDArray k, boolean[] queryMask) {
            if (q.rank() != 3 || k.rank() != 3 || q.size(1) != k.size(1) || q.size(2) != k.size(2) || q.size(2) % 2 != 0) {
                throw new IllegalArgumentException("expected q [n_h, L, d_h] and k [n_kv, L, d_h] with even d_h, got q "
                        + Arrays.toString(q.shape()) + ", k " + Arrays.toString(k.shape()));
            }
            int numHeads = (int) q.size(0);
            int kvHeads = (int) k.size(0);
            int group = RopeSelection.groupSize(numHeads, kvHeads);
            int length = (int) q.size(1);
            if (queryMask != null && queryMask.length != length) {
                throw new IllegalArgumentException("query mask has " + queryMask.length + " entries for L = " + length);
            }
            int headDim = (int) q.size(2);
            return new Shapes(numHeads, kvHeads, length, headDim, group, 1.0 / Math.sqrt(headDim));
        }

        int[] rows(boolean[] queryMask) {
            int[] rows = IntStream.range(0, length).filter(i -> queryMask == null || queryMask[i]).toArray();
            if (rows.length == 0) {
                throw new IllegalArgumentException("query mask selects no query position");
            }
            return rows;
        }
    }
}
