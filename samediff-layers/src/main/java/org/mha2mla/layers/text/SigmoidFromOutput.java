package org.mha2mla.layers.text;

import java.util.List;
import java.util.Map;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.common.base.Preconditions;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ops.CustomOpDescriptor;
import org.nd4j.linalg.api.ops.DynamicCustomOp;

/**
 * The logistic function σ(x) = 1 / (1 + e^−x) of the SiLU and quick_gelu ({@link Activations}), ND4J's native
 * {@code sigmoid}, differentiated from its output:
 * <pre>  dL/dx = g · (σ · (1 − σ))</pre>
 * by three element-wise ops on σ ({@code rsub}, two {@code multiply}). ND4J's own gradient, {@code sigmoid_bp},
 * computes the same expression but recomputes σ from x, with a scalar {@code expf} and a {@code std::function} call
 * per element on one thread: with the forward {@code sigmoid} that was 15 ms of a 226 ms update of the trainer
 * benchmark (benchmarks/trainer/README.md, "What bounds batch 1"). The float operations and their order are
 * {@code sigmoid_bp}'s (its σ the forward's, from the same {@code expf}), so values and gradients are bit for bit those
 * of {@code sd.nn().sigmoid}.
 *
 * <p>It runs the native op under a name of its own ({@link #OP_NAME}), registered when this class is loaded
 * ({@link OpTable}).
 */
public final class SigmoidFromOutput extends DynamicCustomOp {

    /** The op's name in graphs (and in their FlatBuffers form). */
    public static final String OP_NAME = "sigmoid_from_output";

    static {
        OpTable.register(OP_NAME, SigmoidFromOutput.class);
    }

    /** For SameDiff's clone through FlatBuffers, which sets the arguments afterwards. */
    public SigmoidFromOutput() {
    }

    private SigmoidFromOutput(SameDiff sd, SDVariable x) {
        super(null, sd, new SDVariable[]{x});
    }

    /** σ(x), element by element. */
    public static SDVariable apply(SameDiff sd, SDVariable x) {
        return new SigmoidFromOutput(sd, x).outputVariable();
    }

    @Override
    public List<SDVariable> doDiff(List<SDVariable> gradients) {
        SDVariable s = outputVariable();
        return List.of(gradients.get(0).mul(s.mul(s.rsub(1.0))));
    }

    @Override
    public List<DataType> calculateOutputDataTypes(List<DataType> dataTypes) {
        Preconditions.checkState(dataTypes != null && dataTypes.size() == 1, "expected one input, got %s", dataTypes);
        return List.of(dataTypes.get(0));
    }

    /** No properties: ND4J's default reads them from the op descriptor of its own ops, which has none of this name. */
    @Override
    public Map<String, Object> propertiesForFunction() {
        return Map.of();
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
        return OpTable.nativeOp("sigmoid").getHash();
    }

    @Override
    public CustomOpDescriptor getDescriptor() {
        return OpTable.nativeOp("sigmoid");
    }
}
