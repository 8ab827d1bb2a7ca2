package org.mha2mla.layers.text;

import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * Reductions over the last axis that keep it (for broadcasting back), for inputs of any rank.
 *
 * <p>Measured on SameDiff M2.1 CPU: {@code sd.mean(x, true, -1)} (keepDims with a negative axis) returns wrong,
 * run-to-run varying values once the leading axes hold more than one row set (batch &gt; 1), while the same
 * reduction without keepDims followed by {@code expandDims(-1)} is exact. Never reduce with keepDims and a
 * negative axis.
 */
public final class LastAxis {

    private LastAxis() {
    }

    /** mean(x, dim=-1, keepdim=True). */
    public static SDVariable mean(SameDiff sd, SDVariable x) {
        return sd.expandDims(sd.mean(x, false, -1), -1);
    }
}
