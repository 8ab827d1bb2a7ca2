package org.mha2mla.layers.generation;

import java.util.Arrays;

/** Index selection shared by the pruning rules. */
final class TopTokens {

    private TopTokens() {
    }

    /**
     * The {@code k} indices in [0, {@code end}) with the highest scores, ascending. Ties go to the earlier token
     * (torch.topk leaves their order unspecified; a fixed rule keeps runs reproducible).
     */
    static int[] top(double[] scores, int end, int k) {
        Integer[] order = new Integer[end];
        for (int i = 0; i < end; i++) order[i] = i;
        Arrays.sort(order, (a, b) -> {
            int c = Double.compare(scores[b], scores[a]);
            return c != 0 ? c : Integer.compare(a, b);
        });
        int[] out = new int[Math.min(k, end)];
        for (int i = 0; i < out.length; i++) out[i] = order[i];
        Arrays.sort(out);
        return out;
    }

    /** {@code values} at {@code indices}. */
    static double[] select(double[] values, int[] indices) {
        double[] out = new double[indices.length];
        for (int i = 0; i < indices.length; i++) out[i] = values[indices[i]];
        return out;
    }
}
