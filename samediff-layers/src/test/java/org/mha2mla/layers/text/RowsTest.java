package org.mha2mla.layers.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.listeners.At;
import org.nd4j.autodiff.listeners.BaseListener;
import org.nd4j.autodiff.listeners.Operation;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.internal.SameDiffOp;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.OpContext;
import org.nd4j.linalg.dataset.api.MultiDataSet;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * {@link Rows}: tensors made from rows hand their rows and leading shape to the next projection, norm, residual or
 * head split, so a chain of them reshapes only where a [B, L, ·] tensor is really read. Values against plain ND4J
 * arithmetic on the same numbers; the reshapes counted among the ops SameDiff executes; one closed-form gradient
 * through the renamed rows and the aliases.
 */
class RowsTest {

    private static final int B = 2;
    private static final int L = 3;
    private static final int D = 4;

    /** The op names SameDiff executes, in order. */
    private static final class Executed extends BaseListener {
        final List<String> ops = new ArrayList<>();

        @Override
        public boolean isActive(Operation operation) {
            return true;
        }

        @Override
        public void opExecution(SameDiff sd, At at, MultiDataSet batch, SameDiffOp op, OpContext ctx, INDArray[] outputs) {
            ops.add(op.getOp().opName());
        }

        long count(String name) {
            return ops.stream().filter(name::equals).count();
        }
    }

    private static INDArray random(long... shape) {
        return Nd4j.rand(DataType.FLOAT, shape).subi(0.5);
    }

    /** x [B·L, in] · Wᵀ. */
    private static INDArray linear(INDArray rows, INDArray w) {
        return rows.mmul(w.transpose());
    }

    /** w · x · rsqrt(mean(x²) + ε) per row. */
    private static INDArray rmsNorm(INDArray rows, INDArray w, double eps) {
        INDArray inverse = Transforms.pow(rows, 2, true).mean(true, 1).addi(eps);
        return rows.divColumnVector(Transforms.sqrt(inverse, false)).mulRowVector(w);
    }

    @Test
    void aProjectionKeepsItsRowsAndTheLeadOfItsInput() {
        Nd4j.getRandom().setSeed(11);
        INDArray x = random(B, L, D);
        INDArray w = random(5, D);
        SameDiff sd = SameDiff.create();
        SDVariable xv = sd.var("x", x);
        SDVariable y = Linear.apply(sd, "y", xv, sd.constant("w", w), D, 5);

        SDVariable rows = Rows.of(sd, y, 5);
        assertEquals("y/rows", rows.name());
        assertEquals(LinearMatmul.OP_NAME, sd.getVariableOutputOp(rows.name()).opName(), "the rows are the product itself");
        assertSame(Rows.lead(sd, xv), Rows.lead(sd, y), "y's lead resolves to x's, not to an alias of it");
        assertTrue(Rows.known(sd, y));

        Map<String, INDArray> out = sd.output(Map.of(), "y", "y/rows");
        INDArray expected = linear(x.reshape(B * L, D), w);
        assertArrayEquals(new long[]{B, L, 5}, out.get("y").shape());
        assertEquals(0.0, out.get("y").reshape(B * L, 5).sub(expected).amaxNumber().doubleValue(), 1e-6);
        assertEquals(0.0, out.get("y/rows").sub(expected).amaxNumber().doubleValue(), 1e-6);
    }

    @Test
    void aNormBetweenAResidualAndProjectionsReshapesOnlyAtTheEnds() {
        Nd4j.getRandom().setSeed(12);
        INDArray x = random(B, L, D);
        INDArray norm = random(D).addi(1.0);
        INDArray wq = random(D, D);
        INDArray wk = random(2 * D, D);
        SameDiff sd = SameDiff.create();
        SDVariable xv = sd.var("x", x);
        sd.constant("n.weight", norm);
        SDVariable n = new RmsNorm(sd, "n.weight", D, 1e-6).forward("n", xv);
        SDVariable q = Linear.apply(sd, "q", n, sd.constant("wq", wq), D, D);
        SDVariable k = Linear.apply(sd, "k", n, sd.constant("wk", wk), D, 2 * D);
        SDVariable sum = Rows.of(sd, xv, D).add(Rows.of(sd, q, D));
        Rows.restore(sd, "out", sum, Rows.lead(sd, xv), D);
        SDVariable heads = Heads.split(sd, "heads", k, 2, D);                                     // [B, 2, L, D]

        Executed executed = new Executed();
        sd.setListeners(executed);
        Map<String, INDArray> out = sd.output(Map.of(), "out", "heads");

        INDArray rows = x.reshape(B * L, D);
        INDArray normed = rmsNorm(rows, norm, 1e-6);
        INDArray expectedOut = rows.add(linear(normed, wq)).reshape(B, L, D);
        INDArray expectedHeads = linear(normed, wk).reshape(B, L, 2, D).permute(0, 2, 1, 3);
        assertEquals(0.0, out.get("out").sub(expectedOut).amaxNumber().doubleValue(), 1e-5);
        assertArrayEquals(new long[]{B, 2, L, D}, out.get("heads").shape());
        assertEquals(0.0, out.get("heads").sub(expectedHeads).amaxNumber().doubleValue(), 1e-5);
        // x flattened once (norm and residual share it), the norm's weight as a row, "out" restored, the heads viewed
        // from k's rows: 4. Neither the norm's output nor q or k is reshaped back, and no shape is read but x's.
        assertEquals(4, executed.count("reshape"), "reshapes executed: " + executed.ops);
        assertEquals(1, executed.count("shape_of"), "shape reads executed: " + executed.ops);
    }

    @Test
    void mergedHeadsGoToTheOutputProjectionAsRows() {
        Nd4j.getRandom().setSeed(13);
        INDArray heads = random(B, 2, L, D);                                                      // [B, n, L, d]
        INDArray x = random(B, L, D);
        INDArray wo = random(D, 2 * D);
        SameDiff sd = SameDiff.create();
        SDVariable xv = sd.var("x", x);
        SDVariable merged = Heads.merge(sd, "attn", sd.var("heads", heads), Rows.lead(sd, xv), 2, D);
        Linear.apply(sd, "o", merged, sd.constant("wo", wo), 2 * D, D);

        Executed executed = new Executed();
        sd.setListeners(executed);
        INDArray o = sd.output(Map.of(), "o").get("o");

        INDArray rows = heads.permute(0, 2, 1, 3).dup('c').reshape(B * L, 2 * D);
        assertEquals(0.0, o.sub(linear(rows, wo).reshape(B, L, D)).amaxNumber().doubleValue(), 1e-5);
        // The merge's rows and o's restore; the [B, L, 2·D] merged tensor itself is never made.
        assertEquals(2, executed.count("reshape"), "reshapes executed: " + executed.ops);
    }

    /** L = Σ out ⊙ C for out = x + x·Wᵀ on rows: dL/dx = C + C·W. */
    @Test
    void gradientsFlowThroughRenamedRowsAndAliases() {
        Nd4j.getRandom().setSeed(14);
        INDArray x = random(B, L, D);
        INDArray w = random(D, D);
        INDArray c = random(B, L, D);
        SameDiff sd = SameDiff.create();
        SDVariable xv = sd.var("x", x);
        SDVariable y = Linear.apply(sd, "y", xv, sd.constant("w", w), D, D);
        SDVariable out = Rows.restore(sd, "out", Rows.of(sd, xv, D).add(Rows.of(sd, y, D)), Rows.lead(sd, xv), D);
        sd.sum("loss", out.mul(sd.constant("c", c)));
        sd.setLossVariables("loss");

        INDArray dx = sd.calculateGradients(Map.of(), "x").get("x");
        INDArray cRows = c.reshape(B * L, D);
        INDArray expected = cRows.add(cRows.mmul(w)).reshape(B, L, D);
        assertEquals(0.0, dx.sub(expected).amaxNumber().doubleValue(), 1e-5);
    }
}
