package org.mha2mla.layers.text;

import java.util.Set;

import org.nd4j.autodiff.listeners.At;
import org.nd4j.autodiff.listeners.BaseListener;
import org.nd4j.autodiff.listeners.Listener;
import org.nd4j.autodiff.listeners.Operation;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.SameDiffOp;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Lets a graph's softmax (and its backward) run on ND4J's oneDNN kernel, and keeps every other op on ND4J's own.
 *
 * <p>Why: the ND4J build this project uses ({@code nd4j-native}, classifier {@code linux-x86_64-onednn}) carries
 * oneDNN "platform helpers" for a few ops, which ND4J uses wherever a helper accepts the op's arguments. Its softmax
 * is about five times ND4J's own (a scalar {@code expf} per element): 0.17 s against 0.85 s over the 18 softmax calls
 * of a 2,959-token pass through two LLaVA-NeXT-8B layers, 4 % of the layer's time. Its matmul is slower than ND4J's
 * OpenBLAS call at the projections' shapes (15.7 s against 12.5 s for the same pass; benchmarks/scale). So each op's
 * context allows helpers only for the ops named here. The switch is per op context, so graphs running on several
 * threads at once (the trainer's replicas) do not see each other's setting. ND4J applies a helper only when both
 * the op context and the process-wide {@code Environment.helpersAllowed()} (default true) allow it. Ops run outside a
 * graph (INDArray methods) keep that default: their products, where the project has any, measured the same with
 * helpers on and off. On another backend (CUDA, whose helpers are cuDNN's) the listener changes nothing.
 *
 * <p>Every graph the project builds carries this listener ({@link #attachTo}); a graph given other listeners (e.g. a
 * profiler) keeps it ({@link #with}).
 */
public final class OneDnnSoftmax extends BaseListener {

    /** The one instance: it holds no state. */
    public static final OneDnnSoftmax INSTANCE = new OneDnnSoftmax();

    /** The ops whose oneDNN helper may run (ND4J op names). */
    private static final Set<String> HELPED = Set.of("softmax", "softmax_bp");
    /** Whether ND4J runs on its CPU backend, whose helpers are oneDNN's. */
    private static final boolean CPU = Nd4j.getBackend().getClass().getName().startsWith("org.nd4j.linalg.cpu.");

    private OneDnnSoftmax() {
    }

    /** {@code listeners} with this listener first. */
    public static Listener[] with(Listener... listeners) {
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
        if (CPU && opContext != null) opContext.allowHelpers(HELPED.contains(op.getOp().opName()));
    }
}
