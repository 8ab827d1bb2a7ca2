package org.mha2mla.layers.text;

import java.util.Arrays;
import java.util.Locale;
import java.util.Set;

import org.nd4j.autodiff.listeners.At;
import org.nd4j.autodiff.listeners.BaseListener;
import org.nd4j.autodiff.listeners.Listener;
import org.nd4j.autodiff.listeners.Operation;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.SameDiffOp;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.nativeblas.Nd4jBlas;
import org.nd4j.nativeblas.NativeOps;
import org.nd4j.nativeblas.NativeOpsHolder;

/**
 * Chooses, op by op, between ND4J's own kernels and the oneDNN kernels of its CPU build: a graph's softmax (and its
 * backward) always runs on oneDNN's, its products on oneDNN's where this machine runs them faster than ND4J's OpenBLAS
 * call, every other op on ND4J's.
 *
 * <p>Why: the ND4J build this project uses ({@code nd4j-native}, classifier {@code linux-x86_64-onednn}) carries
 * oneDNN "platform helpers" for a few ops, which ND4J uses wherever a helper accepts the op's arguments and both the
 * op's context and the process-wide {@code Environment.helpersAllowed()} (default true) allow it.
 * <ul>
 *   <li><b>Softmax</b>: oneDNN's is about five times ND4J's own (a scalar {@code expf} per element): 0.17 s against
 *       0.85 s over the 18 softmax calls of a 2,959-token pass through two LLaVA-NeXT-8B layers (benchmarks/scale).
 *   <li><b>Products</b> ({@code matmul}, and {@link LinearMatmul}, which runs it): which is faster depends on the CPU.
 *       ND4J M2.1's OpenBLAS (0.3.19) picks its kernels by CPU model and does not know the newest ones: on a Zen 5 it
 *       runs AVX2 kernels at ≈ 95 GFLOP/s a core where oneDNN's AVX-512 code runs ≈ 190 (the trainer's updates 4–25 %
 *       faster, a 7B layer's prefill ≈ 1.55×; benchmarks/trainer/README.md); on a Zen 4 oneDNN's was the slower one
 *       (15.7 s against 12.5 s for a two-layer 7B pass; benchmarks/scale). So the choice is measured once per process
 *       ({@link #productsOnOneDnn}, when the first graph gets this listener), and a product with an operand under
 *       {@link #LARGE} elements (RMSNorm's mean column, a single row) stays on ND4J's call either way: oneDNN's set-up
 *       costs more than such a product.
 * </ul>
 * The switch is per op context, so graphs running on several threads at once (the trainer's replicas) do not see each
 * other's setting. Ops run outside a graph (INDArray methods) and the products inside ND4J's own ops (e.g.
 * {@code matmul_bp}'s) keep ND4J's default, helpers allowed. On another backend (CUDA, whose helpers are cuDNN's) the
 * listener changes nothing.
 *
 * <p>Every graph the project builds carries this listener ({@link #attachTo}); a graph given other listeners (e.g. a
 * profiler) keeps it ({@link #with}).
 */
public final class OneDnnHelpers extends BaseListener {

    /** The one instance: it holds no state. */
    public static final OneDnnHelpers INSTANCE = new OneDnnHelpers();

    /** The system property that fixes the products' kernels: {@code auto} (the default, measured), {@code onednn}, {@code nd4j}. */
    public static final String PRODUCTS_PROPERTY = "mha2mla.products";

    /** The ops whose oneDNN helper always runs (ND4J op names). */
    private static final Set<String> SOFTMAX = Set.of("softmax", "softmax_bp");
    /** The product ops whose oneDNN helper runs where {@link #productsOnOneDnn} says so. */
    private static final Set<String> PRODUCTS = Set.of("matmul", LinearMatmul.OP_NAME);
    /** Elements an operand needs before its product goes to oneDNN (both operands): 2^14. */
    static final long LARGE = 1L << 14;
    /** Whether ND4J runs on its CPU backend, whose helpers are oneDNN's. */
    private static final boolean CPU = Nd4j.getBackend().getClass().getName().startsWith("org.nd4j.linalg.cpu.");

    private OneDnnHelpers() {
    }

    /**
     * {@code listeners} with this listener first. The products' kernels are chosen here if not yet, so that the
     * measurement runs while a graph is built rather than in the middle of a pass (where other threads may run).
     */
    public static Listener[] with(Listener... listeners) {
        if (CPU) choice();
        Listener[] all = new Listener[listeners.length + 1];
        all[0] = INSTANCE;
        System.arraycopy(listeners, 0, all, 1, listeners.length);
        return all;
    }

    /** Sets {@code sd}'s listeners to this one and {@code others}. */
    public static void attachTo(SameDiff sd, Listener... others) {
        sd.setListeners(with(others));
    }

    @Override
    public boolean isActive(Operation operation) {
        return true;
    }

    @Override
    public void preOpExecution(SameDiff sd, At at, SameDiffOp op, OpContext opContext) {
        if (CPU && opContext != null) opContext.allowHelpers(allowed(op.getOp().opName(), opContext));
    }

    /** Whether the op named {@code opName}, on the inputs in {@code ctx}, runs on oneDNN's helper. */
    static boolean allowed(String opName, OpContext ctx) {
        if (SOFTMAX.contains(opName)) return true;
        if (!PRODUCTS.contains(opName) || !productsOnOneDnn()) return false;
        var inputs = ctx.getInputArrays();
        return inputs.size() >= 2 && inputs.get(0).length() >= LARGE && inputs.get(1).length() >= LARGE;
    }

    /** The choice of the products' kernels, made when first needed; null until then. */
    private static volatile Choice choice;

    /** Whether large products run on oneDNN: {@link #PRODUCTS_PROPERTY}, or measured once per process when auto. */
    public static boolean productsOnOneDnn() {
        return choice().oneDnn();
    }

    /** How the products' kernels were chosen, one line for logs and benchmarks. */
    public static String productsChoice() {
        return choice().reason();
    }

    private record Choice(boolean oneDnn, String reason) {
    }

    private static Choice choice() {
        Choice c = choice;
        if (c != null) return c;
        synchronized (OneDnnHelpers.class) {
            if (choice == null) choice = choose(System.getProperty(PRODUCTS_PROPERTY, "auto"));
            return choice;
        }
    }

    /** Fixes the choice as the property's value would (tests run a graph under both); null chooses again at next use. */
    static synchronized void fix(String value) {
        choice = value == null ? null : choose(value);
    }

    /** The choice for the property's value; a value other than auto, onednn or nd4j is refused with one line. */
    private static Choice choose(String value) {
        String v = value.trim().toLowerCase(Locale.ROOT);
        switch (v) {
            case "onednn":
                return new Choice(CPU, "products on " + (CPU ? "oneDNN" : "the backend's own kernels") + " (-D" + PRODUCTS_PROPERTY + "=onednn)");
            case "nd4j":
                return new Choice(false, "products on ND4J's BLAS call (-D" + PRODUCTS_PROPERTY + "=nd4j)");
            case "auto":
                if (!CPU) return new Choice(false, "products on the backend's own kernels (not the CPU backend)");
                double[] ms = timeBoth();
                boolean oneDnn = ms[1] < FASTER * ms[0];
                return new Choice(oneDnn, String.format(Locale.ROOT,
                        "products on %s (measured: ND4J's BLAS call %.2f ms, oneDNN %.2f ms for %s)",
                        oneDnn ? "oneDNN" : "ND4J's BLAS call", ms[0], ms[1], PROBE));
            default:
                throw new IllegalArgumentException("-D" + PRODUCTS_PROPERTY + "=" + value + ": expected auto, onednn or nd4j");
        }
    }

    /** oneDNN wins when it takes less than this share of ND4J's time (a margin for a shared machine's noise). */
    static final double FASTER = 0.85;
    /** Untimed products of each kind before the timed ones. */
    private static final int WARM_UP = 16;
    /** The probe: a projection's product at the trainer's shape, x [256, 1024] · Wᵀ (W [1024, 1024]), 0.54 GFLOP. */
    private static final String PROBE = "[256, 1024] × [1024, 1024]ᵀ";

    /**
     * The median time in ms of the probe product on ND4J's call and on oneDNN's, seven each, alternating, after
     * {@link #WARM_UP} of each: oneDNN compiles its kernel for a shape on first use and reached its steady speed only
     * after ≈ 15 calls on a Zen 5 (4.5 ms a product before, 3.1 after; ND4J's 5.5 throughout). One thread each, on the calling thread:
     * what differs between machines is the kernels' speed per core (their instruction sets), and the trainer's replicas
     * run one thread each; OpenBLAS's threads and the thread's OpenMP threads (oneDNN's) are put back afterwards.
     * About 0.3 s on a Zen 5 core.
     */
    static double[] timeBoth() {
        NativeOps natives = NativeOpsHolder.getInstance().getDeviceNativeOps();
        Nd4jBlas blas = Nd4j.factory().blas() instanceof Nd4jBlas b ? b : null;
        int ompThreads = natives.ompGetMaxThreads();
        int blasThreads = blas == null ? 0 : blas.getMaxThreads();
        INDArray x = Nd4j.rand(DataType.FLOAT, 256, 1024);
        INDArray w = Nd4j.rand(DataType.FLOAT, 1024, 1024);
        INDArray out = Nd4j.create(DataType.FLOAT, 256, 1024);
        int reps = 7;
        double[][] ms = new double[2][reps];
        try {
            natives.setOmpNumThreads(1);
            if (blas != null) blas.setMaxThreads(1);
            for (int i = -WARM_UP; i < reps; i++) {
                for (int side = 0; side < 2; side++) {
                    double t = product(x, w, out, side == 1);
                    if (i >= 0) ms[side][i] = t;
                }
            }
        } finally {
            natives.setOmpNumThreads(ompThreads);
            if (blas != null && blasThreads > 0) blas.setMaxThreads(blasThreads);
        }
        for (double[] m : ms) Arrays.sort(m);
        return new double[] {ms[0][reps / 2], ms[1][reps / 2]};
    }

    /** One x·Wᵀ into {@code out}, its context allowing oneDNN's helper or not; ms. */
    private static double product(INDArray x, INDArray w, INDArray out, boolean oneDnn) {
        DynamicCustomOp op = DynamicCustomOp.builder("matmul").addInputs(x, w).addOutputs(out).addIntegerArguments(0, 1, 0).build();
        try (OpContext ctx = Nd4j.getExecutioner().buildContext()) {
            ctx.setInputArrays(x, w);
            ctx.setOutputArrays(out);
            ctx.setIArguments(0, 1, 0);
            ctx.allowHelpers(oneDnn);
            long t0 = System.nanoTime();
            Nd4j.getExecutioner().exec(op, ctx);
            return (System.nanoTime() - t0) / 1e6;
        } catch (Exception e) {
            throw new IllegalStateException("timing ND4J's matmul for the choice of kernels failed: " + e.getMessage(), e);
        }
    }
}
