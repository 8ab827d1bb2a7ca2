package org.mha2mla.layers.text;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/** LlamaRMSNorm / Qwen2RMSNorm: {@code w · x · rsqrt(mean(x²) + ε)} over the last axis (float32 throughout). */
public final class RmsNorm {

    private final SameDiff sd;
    private final SDVariable weight;
    private final double eps;

    public RmsNorm(SameDiff sd, String key, long hidden, double eps) {
        this.sd = sd;
        this.weight = Params.get(sd, key, hidden);
        this.eps = eps;
    }

    public SDVariable forward(String name, SDVariable x) {
        SDVariable variance = LastAxis.mean(sd, sd.math().square(x));
        SDVariable normed = x.mul(sd.math().rsqrt(variance.add(eps)));
        return normed.mul(name, weight);
    }
}
