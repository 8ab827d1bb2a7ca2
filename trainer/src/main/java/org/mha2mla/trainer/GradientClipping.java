package org.mha2mla.trainer;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
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

    /**
     * The names of the gradients whose norm is NaN or infinite: where a non-finite global norm came from. An update
     * with such a gradient is skipped by both training loops (a NaN in Adam's moments would spread to every weight it
     * touches and stay), and these names go into the warning.
     */
    public static List<String> nonFinite(Map<String, INDArray> grads) {
        List<String> bad = new ArrayList<>();
        grads.forEach((name, g) -> {
            if (!Double.isFinite(g.norm2Number().doubleValue())) bad.add(name);
        });
        return bad;
    }

    /** The warning line of an update skipped for {@code nonFinite} gradients (at most five names, then a count). */
    public static String skipWarning(String update, double loss, List<String> nonFinite) {
        String names = String.join(", ", nonFinite.subList(0, Math.min(5, nonFinite.size())))
                + (nonFinite.size() > 5 ? " and " + (nonFinite.size() - 5) + " more" : "");
        return String.format(Locale.ROOT, "%s: non-finite gradient in %s (loss %.4f); update skipped, weights unchanged", update, names, loss);
    }
}
