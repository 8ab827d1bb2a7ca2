package org.mha2mla.layers.text;

import java.util.function.Supplier;

import org.nd4j.autodiff.functions.DifferentialFunction;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.ops.impl.transforms.same.Identity;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Hidden states as rows. The decoder's projections, norms, activations and residuals compute on rows [N, width]
 * (N = B·L: SameDiff M2.1's matmul is rank 2, and element-wise ops do not care), while the graph's named tensors and
 * the attention's heads are [B, L, width]. In SameDiff M2.1 a reshape is a copy and a graph op (two more in the
 * gradient), reading a shape is two ops more, and every graph op costs SameDiff's per-op bookkeeping whatever it
 * computes. So a tensor made from rows keeps them:
 * <ul>
 * <li>{@link #restore} makes y [lead…, width] of rows and registers, under y's name, its rows ({@code <y>/rows}) and
 *     its leading shape ({@code <y>/lead});</li>
 * <li>{@link #of} and {@link #lead} find them there, so the next projection, norm or residual works on the same rows
 *     without flattening y or reading its shape; a tensor without them is flattened (and its shape read) once, shared
 *     by all its consumers.</li>
 * </ul>
 * The reshape that makes y runs only when something needs y itself (a named output, the attention's heads): SameDiff
 * executes only the ops that the requested outputs depend on. Values never change: a reshape moves no number.
 */
public final class Rows {

    private Rows() {
    }

    /** x [..., width] as rows [N, width]: the rows x was made from ({@link #restore}), else one shared reshape. */
    public static SDVariable of(SameDiff sd, SDVariable x, long width) {
        return shared(sd, x.name() + "/rows", () -> sd.reshape(x, -1, width));
    }

    /** Whether x was made from rows by {@link #restore} (or has been flattened once already). */
    public static boolean known(SameDiff sd, SDVariable x) {
        return sd.hasVariable(x.name() + "/rows") && sd.hasVariable(x.name() + "/lead");
    }

    /**
     * x's shape without its last axis ([B, L] for [B, L, width]): the lead x was restored with, else read once from x
     * (begin mask on axis 0, end −1). Aliases resolve to the variable they name, so a chain of layers shares one.
     */
    public static SDVariable lead(SameDiff sd, SDVariable x) {
        SDVariable lead = shared(sd, x.name() + "/lead",
                () -> sd.stridedSlice(x.shape(), new long[]{0}, new long[]{-1}, new long[]{1}, 1, 0, 0, 0, 0));
        DifferentialFunction op = sd.getVariableOutputOp(lead.name());
        return op instanceof Identity ? op.arg() : lead;
    }

    /** The shape vector {@code lead} followed by {@code widths}, built once per lead and widths. */
    public static SDVariable shape(SameDiff sd, SDVariable lead, long... widths) {
        StringBuilder name = new StringBuilder(lead.name()).append("/shape");
        for (long w : widths) name.append('_').append(w);
        return shared(sd, name.toString(), () -> sd.concat(0, lead, sd.constant(Nd4j.createFromArray(widths))));
    }

    /**
     * The tensor [lead…, width] of {@code rows} [N, width], named {@code name} (null: an automatic name), with its rows
     * and lead registered for {@link #of} and {@link #lead}. {@code rows} must be a result the caller has just computed:
     * it takes the name {@code <y>/rows}, which rows already registered for another tensor cannot.
     */
    public static SDVariable restore(SameDiff sd, String name, SDVariable rows, SDVariable lead, long width) {
        if (rows.name().endsWith("/rows")) {
            throw new IllegalArgumentException("Rows.restore: '" + rows.name() + "' are the rows of another tensor; pass a result computed for this one");
        }
        SDVariable y = name == null ? sd.reshape(rows, shape(sd, lead, width)) : sd.reshape(name, rows, shape(sd, lead, width));
        rows.rename(y.name() + "/rows");
        sd.identity(y.name() + "/lead", lead);
        return y;
    }

    /** The graph's variable {@code name}, built by {@code build} and given that name if the graph has none yet. */
    static SDVariable shared(SameDiff sd, String name, Supplier<SDVariable> build) {
        return sd.hasVariable(name) ? sd.getVariable(name) : build.get().rename(name);
    }
}
