package org.mha2mla.trainer;

import java.util.Map;

import org.nd4j.linalg.api.ndarray.INDArray;

/** torch.nn.utils.clip_grad_norm_: scale all gradients together so their global L2 norm is at most maxNorm. */
public final class GradientClipping {

    private GradientClipping() {
    }

    /**
     * Clips {@code grads} in place and returns their global norm before clipping. As PyTorch: the coefficient is
     * {@code maxNorm / (norm + 1e-6)} and applies only when below 1; {@code maxNorm <= 0} disables clipping.
     */
    public static double clipGlobalNorm(Map<String, INDArray> grads, double maxNorm) {
        double sumSq = 0;
        for (INDArray g : grads.values()) {
            double n = g.norm2Number().doubleValue();
            sumSq += n * n;
        }
        double norm = Math.sqrt(sumSq);
        if (maxNorm > 0) {
            double coef = maxNorm / (norm + 1e-6);
            if (coef < 1) {
                for (INDArray g : grads.values()) g.muli(coef);
            }
        }
        return norm;
    }
}
