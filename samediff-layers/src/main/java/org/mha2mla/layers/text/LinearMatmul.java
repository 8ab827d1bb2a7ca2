package org.mha2mla.layers.text;

import java.util.List;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.VariableType;
import org.nd4j.linalg.api.ops.CustomOpDescriptor;
import org.nd4j.linalg.api.ops.impl.reduce.Mmul;

/**
 * The matmul of {@link Linear}, {@code y = x · Wᵀ} (x [N, in], W [out, in]), whose backward pass forms the weight's
 * gradient only when the weight trains. SameDiff M2.1 differentiates every matmul on the path to the loss with
 * {@code matmul_bp}, which computes dL/dW = gᵀ·x even for a constant or placeholder W: a frozen weight then costs one
 * weight-sized GEMM and one weight-sized array per backward pass (for a 7B lm_head 2.2 GB, for every frozen projection
 * of a PEFT stage as much again as its forward). Here, when W is a constant or a placeholder (a frozen weight, decided
 * when the gradient graph is built, after a trainer has turned its frozen weights into constants), the backward pass is
 * the one product the input needs:
 * <pre>  dL/dx = g · W</pre>
 * and when W is a variable (it trains) it is {@code matmul_bp} as before. The forward pass is the native
 * {@code matmul} with the same arguments, so values do not change.
 *
 * <p>It runs the native {@code matmul} ({@link #opHash}, {@link #getDescriptor}) under a name of its own
 * ({@link #OP_NAME}), registered with SameDiff's op table when this class is loaded ({@link OpTable}).
 */
public final class LinearMatmul extends Mmul {

    /** The op's name in graphs (and in their FlatBuffers form). */
    public static final String OP_NAME = "linear_matmul";

    static {
        OpTable.register(OP_NAME, LinearMatmul.class);
    }

    /** For SameDiff's clone through FlatBuffers, which sets the arguments afterwards. */
    public LinearMatmul() {
    }

    private LinearMatmul(SameDiff sd, SDVariable x, SDVariable weight) {
        super(sd, x, weight, false, true, false);
    }

    /** {@code x [N, in] · weightᵀ} for a weight [out, in]: [N, out]. */
    public static SDVariable apply(SameDiff sd, SDVariable x, SDVariable weight) {
        return new LinearMatmul(sd, x, weight).outputVariable();
    }

    /** Whether the backward pass skips the weight's gradient: the weight is a constant or a placeholder. */
    static boolean frozen(SDVariable weight) {
        VariableType t = weight.getVariableType();
        return t == VariableType.CONSTANT || t == VariableType.PLACEHOLDER;
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> gradients) {
        SDVariable weight = arg(1);
        if (!frozen(weight)) return super.doDiff(gradients);
        // Only the first argument gets a gradient: a list shorter than the arguments leaves the rest without one.
        return List.of(sameDiff.mmul(gradients.get(0), weight));
    }

    @Override
    public String opName() {
        return OP_NAME;
    }

    @Override
    public int getNumOutputs() {
        return 1;
    }

    @Override
    public long opHash() {
        return OpTable.nativeOp("matmul").getHash();
    }

    @Override
    public CustomOpDescriptor getDescriptor() {
        return OpTable.nativeOp("matmul");
    }
}
