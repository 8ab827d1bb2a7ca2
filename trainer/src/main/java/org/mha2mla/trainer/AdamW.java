package org.mha2mla.trainer;

import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Adam with decoupled weight decay (Loshchilov &amp; Hutter), step for step as {@code torch.optim.AdamW}
 * (single-tensor path, no amsgrad): {@code p ← p·(1 − lr·λ)}, {@code m ← β1·m + (1−β1)·g},
 * {@code v ← β2·v + (1−β2)·g²}, {@code p ← p − lr/(1−β1ᵗ) · m / (√v/√(1−β2ᵗ) + ε)}.
 *
 * <p>Written here rather than through SameDiff's TrainingConfig updater because the trainer needs the global-norm
 * gradient clipping and accumulation between the gradient and the update, and the moments and step as plain
 * tensors for an exact resume. Weight decay applies to matrices (rank ≥ 2) only: biases and norm weights are
 * excluded, as HF's Trainer does.
 */
public final class AdamW {

    public record Config(double beta1, double beta2, double eps, double weightDecay) {
        public Config {
            if (beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1) {
                throw new IllegalArgumentException("betas must be in [0, 1), got " + beta1 + ", " + beta2);
            }
            if (eps <= 0 || weightDecay < 0) {
                throw new IllegalArgumentException("need eps > 0 and weight decay >= 0, got " + eps + ", " + weightDecay);
            }
        }

        /** torch.optim.AdamW's betas (0.9, 0.999) and eps 1e-8 with the given decay. */
        public static Config defaults(double weightDecay) {
            return new Config(0.9, 0.999, 1e-8, weightDecay);
        }
    }

    private final Config config;
    private final Map<String, INDArray> m = new LinkedHashMap<>();
    private final Map<String, INDArray> v = new LinkedHashMap<>();
    private long step;
    private final Map<String, INDArray> scratch = new java.util.HashMap<>();

    /** Zero moments for every parameter of {@code shapes}. */
    public AdamW(Config config, Map<String, long[]> shapes) {
        this.config = config;
        shapes.forEach((name, shape) -> {
            m.put(name, Nd4j.zeros(DataType.FLOAT, shape));
            v.put(name, Nd4j.zeros(DataType.FLOAT, shape));
        });
    }

    public Config config() {
        return config;
    }

    /** Updates taken so far (t of the bias correction). */
    public long step() {
        return step;
    }

    public Map<String, INDArray> firstMoments() {
        return Collections.unmodifiableMap(m);
    }

    public Map<String, INDArray> secondMoments() {
        return Collections.unmodifiableMap(v);
    }

    /** Replaces the state with a saved one (same parameter names and shapes). */
    public void restore(long savedStep, Map<String, INDArray> savedM, Map<String, INDArray> savedV) {
        for (String name : m.keySet()) {
            m.get(name).assign(checked("exp_avg", name, savedM.get(name), m.get(name)));
            v.get(name).assign(checked("exp_avg_sq", name, savedV.get(name), v.get(name)));
        }
        this.step = savedStep;
    }

    private static INDArray checked(String what, String name, INDArray saved, INDArray expected) {
        if (saved == null) throw new IllegalArgumentException("optimizer state has no " + what + " for '" + name + "'");
        if (!Arrays.equals(saved.shape(), expected.shape())) {
            throw new IllegalArgumentException("optimizer " + what + " of '" + name + "' has shape " + Arrays.toString(saved.shape())
                    + ", the parameter " + Arrays.toString(expected.shape()));
        }
        return saved;
    }

    /**
     * One update of every parameter in place; {@code grads} are the (clipped, averaged) gradients by name. Allocates
     * nothing: the moments and parameters change in place through BLAS axpy and element-wise ops on one scratch array
     * per parameter shape (at 7B width the temporaries of a naive update would be gigabytes per update, which ND4J
     * frees only when the JVM collects their wrappers).
     */
    public void update(Map<String, INDArray> params, Map<String, INDArray> grads, double lr) {
        step++;
        double b1 = config.beta1();
        double b2 = config.beta2();
        double stepSize = lr / (1 - Math.pow(b1, step));
        double bc2Sqrt = Math.sqrt(1 - Math.pow(b2, step));
        for (Map.Entry<String, INDArray> e : m.entrySet()) {
            String name = e.getKey();
            INDArray p = params.get(name);
            INDArray g = grads.get(name);
            if (p == null || g == null) throw new IllegalArgumentException("no parameter or gradient for '" + name + "'");
            INDArray mt = e.getValue();
            INDArray vt = v.get(name);
            INDArray scratch = scratch(p);
            if (p.rank() >= 2 && config.weightDecay() > 0) {
                p.muli(1 - lr * config.weightDecay());
            }
            mt.muli(b1);
            Nd4j.getBlasWrapper().level1().axpy(mt.length(), 1 - b1, g, mt);         // m ← β1·m + (1−β1)·g
            vt.muli(b2);
            scratch.assign(g).muli(g);
            Nd4j.getBlasWrapper().level1().axpy(vt.length(), 1 - b2, scratch, vt);   // v ← β2·v + (1−β2)·g²
            Transforms.sqrt(scratch.assign(vt), false).divi(bc2Sqrt).addi(config.eps()); // √v/√(1−β2ᵗ) + ε
            scratch.rdivi(mt);                                                       // m / (…)
            Nd4j.getBlasWrapper().level1().axpy(p.length(), -stepSize, scratch, p);
        }
    }

    /** A reused array of {@code p}'s shape for the update's intermediate values. */
    private INDArray scratch(INDArray p) {
        String key = Arrays.toString(p.shape());
        INDArray s = scratch.get(key);
        if (s == null) {
            s = Nd4j.createUninitialized(DataType.FLOAT, p.shape());
            scratch.put(key, s);
        }
        return s;
    }
}
