package org.mha2mla.layers.text;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * torch.nn.Linear: {@code y = x · Wᵀ + b} over the last axis of an input of any rank. The weight stays the
 * checkpoint's [out, in] tensor. The input is flattened to [N, in] for one rank-2 {@code mmul} (transpose
 * folded in) and the leading axes restored after: SameDiff M2.1's mmul refuses rank-3 × rank-2, and the
 * backprop of {@code tensorMmul} fails on such inputs ("dimensions at given axes … must be the same"), which
 * would make every layer untrainable. The product is a {@link LinearMatmul}: a frozen weight gets no gradient.
 */
public final class Linear {

    private final SameDiff sd;
    private final String key;
    private final SDVariable weight;
    private final SDVariable bias;
    private final long in;
    private final long out;

    private Linear(SameDiff sd, String key, SDVariable weight, SDVariable bias, long in, long out) {
        this.sd = sd;
        this.key = key;
        this.weight = weight;
        this.bias = bias;
        this.in = in;
        this.out = out;
    }

    /** Weight {@code key + ".weight"} [out, in]; bias {@code key + ".bias"} [out] when {@code bias} is true. */
    public static Linear of(SameDiff sd, String key, long in, long out, boolean bias) {
        SDVariable w = Params.get(sd, key + ".weight", out, in);
        SDVariable b = bias ? Params.get(sd, key + ".bias", out) : null;
        return new Linear(sd, key, w, b, in, out);
    }

    /** Like {@link #of} but takes the bias when the checkpoint has one (e.g. projector biases). */
    public static Linear withOptionalBias(SameDiff sd, String key, long in, long out) {
        SDVariable w = Params.get(sd, key + ".weight", out, in);
        return new Linear(sd, key, w, Params.optional(sd, key + ".bias", out), in, out);
    }

    /** x [..., in] → [..., out]; {@code name} names the result node (unique per graph). */
    public SDVariable forward(String name, SDVariable x) {
        return Rows.restore(sd, name, onRows(Rows.of(sd, x, in)), Rows.lead(sd, x), out);
    }

    /** rows [N, in] → [N, out], the bias added on the rows (see {@link Rows}). */
    public SDVariable onRows(SDVariable rows) {
        SDVariable y = LinearMatmul.apply(sd, rows, weight);
        return bias == null ? y : y.add(bias);
    }

    /**
     * x [..., in] · wᵀ for a weight [out, in]: one rank-2 mmul on x's rows, the leading axes restored after. {@code name}
     * names the result (null: an automatic name). Projections of one input (q, k and v; gate and up) share its rows and
     * the shape they restore, and a projection of a tensor made from rows (a norm's output, another projection's)
     * takes those rows as they are ({@link Rows}).
     */
    public static SDVariable apply(SameDiff sd, String name, SDVariable x, SDVariable weight, long in, long out) {
        return Rows.restore(sd, name, LinearMatmul.apply(sd, Rows.of(sd, x, in), weight), Rows.lead(sd, x), out);
    }

    public String key() {
        return key;
    }

    public SDVariable weight() {
        return weight;
    }

    public SDVariable bias() {
        return bias;
    }

    public long in() {
        return in;
    }

    public long out() {
        return out;
    }
}
