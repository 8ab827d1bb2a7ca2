package org.mha2mla.layers.vision;

import org.mha2mla.layers.text.LastAxis;
import org.mha2mla.layers.text.Params;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * torch.nn.LayerNorm over the last axis: {@code (x − μ)·rsqrt(σ² + ε)·w + b} with the biased variance. Written
 * out because SameDiff's layerNorm op takes no epsilon, and CLIP's ε (1e-5) must match.
 */
public final class LayerNorm {

    private final SameDiff sd;
    private final SDVariable weight;
    private final SDVariable bias;
    private final double eps;

    /** Weight {@code key.weight} and bias {@code key.bias}, both [hidden]. */
    public LayerNorm(SameDiff sd, String key, long hidden, double eps) {
        this.sd = sd;
        this.weight = Params.get(sd, key + ".weight", hidden);
        this.bias = Params.get(sd, key + ".bias", hidden);
        this.eps = eps;
    }

    public SDVariable forward(String name, SDVariable x) {
        SDVariable centered = x.sub(LastAxis.mean(sd, x));
        SDVariable variance = LastAxis.mean(sd, sd.math().square(centered));
        SDVariable normed = centered.mul(sd.math().rsqrt(variance.add(eps)));
        return normed.mul(weight).add(name, bias);
    }
}
