package org.mha2mla.importers.weights;

import org.mha2mla.core.tensor.StoredTensor;

/**
 * Refuses a weight holding NaN or infinite values, naming it and counting them: a conversion or a training run over
 * such a weight would otherwise fail far from the cause (a NaN pair score, a NaN loss).
 */
public final class FiniteWeights {

    private static final int CHUNK = 1 << 20;

    private FiniteWeights() {
    }

    /** Throws when {@code source}'s tensor {@code name} is not finite: "WHERE: weight 'NAME' holds … values (of N); WHY". */
    public static void require(TensorSource source, String name, String where, String why) {
        if (!source.info(name).dtype().isFloating()) return;
        long nan = 0;
        long inf = 0;
        long numel;
        try (StoredTensor t = source.stored(name)) {
            numel = t.numel();
            float[] values = new float[(int) Math.min(CHUNK, Math.max(1, numel))];
            for (long from = 0; from < numel; from += CHUNK) {
                int n = (int) Math.min(CHUNK, numel - from);
                t.elementsInto(from, n, values, 0);
                for (int i = 0; i < n; i++) {
                    if (Float.isNaN(values[i])) nan++;
                    else if (Float.isInfinite(values[i])) inf++;
                }
            }
        }
        if (nan + inf > 0) {
            throw new IllegalArgumentException(where + ": weight '" + name + "' holds " + nan + " NaN and " + inf
                    + " infinite values (of " + numel + "); " + why);
        }
    }
}
