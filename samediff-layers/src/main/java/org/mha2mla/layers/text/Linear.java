package org.mha2mla.layers.text;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * torch.nn.Linear: {@code y = x · Wᵀ + b} over the last axis of an input of any rank. The weight stays the
 * checkpoint's [out, in] tensor; the transpose is folded into the contraction (tensorMmul over W's axis 1),
 * because SameDiff's mmul refuses rank-3 × rank-2.
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
        if (bias == null) {
            return sd.tensorMmul(name, x, weight, new int[]{-1}, new int[]{1}, false, false, false);
        }
        SDVariable xw = sd.tensorMmul(name + "/mm", x, weight, new int[]{-1}, new int[]{1}, false, false, false);
        return xw.add(name, bias);
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
