package org.mha2mla.core.partialrope;

import java.util.Arrays;
import java.util.stream.IntStream;
import org.mha2mla.core.linalg.LinearAlgebra;
import org.mha2mla.core.rope.CosSin;
import org.mha2mla.core.rope.Rope;
import org.mha2mla.core.tensor.Kernels;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

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
 * even for pairs whose removal barely matters.
 *
 * <p>Cost: the logits of the averaged query rows come from one BLAS gemm per head ([R, d_h] × [d_h, L]); the
 * per-pair terms are two passes over row i's i + 1 visible keys per pair, on the Java Vector API where the JVM has it
 * ({@link Kernels#combineAndWeigh}, {@link Kernels#expWeightedSum}: SVML's vector exp), over keys stored transposed
 * ([d_h][L]) so that both passes read contiguous memory. No L×L matrix per pair is materialised; heads run in
 * parallel. Figures on LLaVA-1.5-7B's shapes: benchmarks/scale/README.md.
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
        double[][] qh = perHead(q);
        double[][] kh = perHead(k);
        double[][] khT = new double[kh.length][];
        for (int h = 0; h < kh.length; h++) khT[h] = transposed(kh[h], s.length, s.headDim);
        int[] rows = s.rows(queryMask);
        double[][] out = new double[s.numHeads][];
        IntStream.range(0, s.numHeads).parallel().forEach(h ->
                out[h] = pairKlOneHead(qh[h], kh[h / s.group], khT[h / s.group], rows, causal, s));
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
        double[][] qh = perHead(q);
        double[][] kh = perHead(k);
        int[] rows = s.rows(queryMask);
        double[] out = new double[s.numHeads];
        IntStream.range(0, s.numHeads).parallel().forEach(h -> {
            boolean[] mask = kvHeadDimMasks[h / s.group];
            double[] qm = zeroOutside(qh[h], mask);
            double[] km = zeroOutside(kh[h / s.group], mask);
            out[h] = meanKl(qh[h], kh[h / s.group], qm, km, rows, causal, s);
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
        double[][] qFull = perHead(Rope.applyRotary(q, tables.cos(), tables.sin()));
        double[][] kFull = perHead(Rope.applyRotary(k, tables.cos(), tables.sin()));
        // Partial RoPE rotates the kept dims exactly as full RoPE does (dim t reads only dims t and t ± d_h/2 of the
        // unrotated input) and leaves the others as they are: a per-dim choice between the two arrays, the same
        // values PartialRope.applyRotary computes, without its per-head ND4J ops
        double[][] qPart = keptRotated(qFull, perHead(q), queryMasks);
        double[][] kPart = keptRotated(kFull, perHead(k), kvHeadDimMasks);
        int[] rows = s.rows(queryMask);
        double[] out = new double[s.numHeads];
        IntStream.range(0, s.numHeads).parallel().forEach(h -> out[h] =
                meanKl(qFull[h], kFull[h / s.group], qPart[h], kPart[h / s.group], rows, causal, s));
        return out;
    }

    // ---------------------------------------------------------------------------------------------

    /**
     * One query head: q [L·d_h] and k [L·d_h] row-major, kT the same keys as [d_h·L] (row t holds dim t of every key).
     */
    private static double[] pairKlOneHead(double[] q, double[] k, double[] kT, int[] rows, boolean causal, Shapes s) {
        Kernels kernels = Kernels.get();
        int d = s.headDim;
        int half = d / 2;
        int length = s.length;
        double scale = s.scale;
        double[] logits = rowLogits(q, k, rows, s);
        double[] sum = new double[half];
        double[] p = new double[length];
        double[] c = new double[length];
        for (int r = 0; r < rows.length; r++) {
            int i = rows[r];
            int n = causal ? i + 1 : length;
            softmax(logits, r * length, n, p);
            for (int pair = 0; pair < half; pair++) {
                // c_j = (q_a k_{j,a} + q_b k_{j,b}) / √d_h, and E_P[c]
                double mean = kernels.combineAndWeigh(q[i * d + pair] * scale, kT, pair * length,
                        q[i * d + pair + half] * scale, kT, (pair + half) * length, p, c, n);
                double z = kernels.expWeightedSum(p, c, n, mean);
                // z ≥ 1 by Jensen; rounding can put it a hair below
                sum[pair] += Math.max(Math.log(z), 0.0);
            }
        }
        for (int pair = 0; pair < half; pair++) {
            sum[pair] /= rows.length;
        }
        return sum;
    }

    /** Mean over rows of KL(softmax(qa·kaᵀ) ‖ softmax(qb·kbᵀ)), one head, [L·d_h] row-major inputs. */
    private static double meanKl(double[] qa, double[] ka, double[] qb, double[] kb, int[] rows, boolean causal, Shapes s) {
        int length = s.length;
        double[] la = rowLogits(qa, ka, rows, s);
        double[] lb = rowLogits(qb, kb, rows, s);
        double total = 0;
        for (int r = 0; r < rows.length; r++) {
            int n = causal ? rows[r] + 1 : length;
            int o = r * length;
            double lseA = logSumExp(la, o, n);
            double lseB = logSumExp(lb, o, n);
            double kl = 0;
            for (int j = 0; j < n; j++) {
                double logPa = la[o + j] - lseA;
                kl += Math.exp(logPa) * (logPa - (lb[o + j] - lseB));
            }
            total += Math.max(kl, 0.0);
        }
        return total / rows.length;
    }

    /** Scaled logits of the given query rows against every key: [R, L] row-major, one gemm (float64). */
    private static double[] rowLogits(double[] q, double[] k, int[] rows, Shapes s) {
        int d = s.headDim;
        double[] selected = new double[rows.length * d];
        for (int r = 0; r < rows.length; r++) System.arraycopy(q, rows[r] * d, selected, r * d, d);
        INDArray qs = Nd4j.create(selected, new long[] {rows.length, d}, 'c');
        INDArray keys = Nd4j.create(k, new long[] {s.length, d}, 'c');
        return qs.mmul(keys.transpose()).muli(s.scale).dup('c').data().asDouble(); // mmul returns 'f' order
    }

    /** p[0..n) = softmax(x[offset .. offset + n)). */
    private static void softmax(double[] x, int offset, int n, double[] p) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            max = Math.max(max, x[offset + j]);
        }
        double z = 0;
        for (int j = 0; j < n; j++) {
            p[j] = Math.exp(x[offset + j] - max);
            z += p[j];
        }
        for (int j = 0; j < n; j++) {
            p[j] /= z;
        }
    }

    private static double logSumExp(double[] x, int offset, int n) {
        double max = Double.NEGATIVE_INFINITY;
        for (int j = 0; j < n; j++) {
            max = Math.max(max, x[offset + j]);
        }
        double z = 0;
        for (int j = 0; j < n; j++) {
            z += Math.exp(x[offset + j] - max);
        }
        return max + Math.log(z);
    }

    /** x [L·d_h] with every dim outside {@code mask} zeroed (a copy). */
    private static double[] zeroOutside(double[] x, boolean[] mask) {
        double[] y = x.clone();
        int d = mask.length;
        for (int t = 0; t < d; t++) {
            if (mask[t]) continue;
            for (int i = t; i < y.length; i += d) y[i] = 0;
        }
        return y;
    }

    /** x [heads, L, d_h] → per head a row-major float64 [L·d_h] array (one copy of the whole tensor, no views). */
    private static double[][] perHead(INDArray x) {
        double[] all = LinearAlgebra.toDouble(x).dup('c').data().asDouble();
        int heads = (int) x.size(0);
        int per = all.length / heads;
        double[][] out = new double[heads][];
        for (int h = 0; h < heads; h++) {
            out[h] = Arrays.copyOfRange(all, h * per, (h + 1) * per);
        }
        return out;
    }

    /** Per head: {@code rotated} on the dims of masks[h], {@code raw} elsewhere ([L·d_h] row-major each). */
    private static double[][] keptRotated(double[][] rotated, double[][] raw, boolean[][] masks) {
        double[][] out = new double[raw.length][];
        for (int h = 0; h < raw.length; h++) {
            double[] x = raw[h].clone();
            boolean[] mask = masks[h];
            int d = mask.length;
            for (int t = 0; t < d; t++) {
                if (!mask[t]) continue;
                for (int i = t; i < x.length; i += d) x[i] = rotated[h][i];
            }
            out[h] = x;
        }
        return out;
    }

    /** [L·d] row-major → [d·L] row-major. */
    private static double[] transposed(double[] x, int length, int d) {
        double[] t = new double[x.length];
        for (int i = 0; i < length; i++) {
            for (int j = 0; j < d; j++) t[j * length + i] = x[i * d + j];
        }
        return t;
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
