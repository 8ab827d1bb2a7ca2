package org.mha2mla.layers.text;

import java.util.function.Supplier;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.factory.Nd4j;

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
        SDVariable xw = apply(sd, bias == null ? name : name + "/mm", x, weight, in, out);
        return bias == null ? xw : xw.add(name, bias);
    }

    /**
     * x [..., in] · wᵀ for a weight [out, in]: flatten, one rank-2 mmul, restore the leading axes. {@code name} names
     * the result (null: an automatic name).
     *
     * <p>Projections of one input (q, k and v; gate and up) share its flattening and the shape they restore: the
     * first builds them under names derived from the input's ({@code <x>/rows}, {@code <x>/lead},
     * {@code <x>/shape<out>}), the others find them in the graph. Without that each projection added its own
     * reshape, shape read, slice and concat (four graph ops, and the reshape's gradient), and every graph op costs
     * SameDiff's bookkeeping whatever it computes (12–17 µs for a one-element op, benchmarks/trainer/README.md).
     */
    public static SDVariable apply(SameDiff sd, String name, SDVariable x, SDVariable weight, long in, long out) {
        SDVariable rows = shared(sd, x.name() + "/rows", () -> sd.reshape(x, -1, in));
        // Shape of x without its last axis (begin mask on axis 0, end −1), then the output width.
        SDVariable shape = shared(sd, x.name() + "/shape" + out, () -> sd.concat(0,
                shared(sd, x.name() + "/lead", () -> sd.stridedSlice(x.shape(), new long[]{0}, new long[]{-1}, new long[]{1}, 1, 0, 0, 0, 0)),
                sd.constant(Nd4j.createFromArray(out))));
        return sd.reshape(name, LinearMatmul.apply(sd, rows, weight), shape);
    }

    /** The graph's variable {@code name}, built by {@code build} and given that name if the graph has none yet. */
    private static SDVariable shared(SameDiff sd, String name, Supplier<SDVariable> build) {
        return sd.hasVariable(name) ? sd.getVariable(name) : build.get().rename(name);
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
