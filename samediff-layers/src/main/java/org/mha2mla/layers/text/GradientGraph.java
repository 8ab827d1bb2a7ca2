package org.mha2mla.layers.text;

import java.io.OutputStream;
import java.io.PrintStream;

import org.nd4j.autodiff.samediff.SameDiff;

/**
 * Builds a graph's backward pass up front. SameDiff M2.1 does it lazily on the first gradient request and prints one
 * {@code "Added differentiated op …"} line per op to {@code System.out} while doing so (an unconditional println in
 * {@code SameDiff.createGradFunction}), which buries a command line's output under hundreds of lines. Building it here
 * with stdout silenced keeps the console for progress bars and results.
 */
public final class GradientGraph {

    private GradientGraph() {
    }

    /**
     * Creates {@code sd}'s gradient function for its loss variables, with SameDiff's per-op chatter suppressed; the
     * gradients of the placeholders {@code placeholders} are formed too (SameDiff forms only the variables' by default).
     * Synchronized: the console is one for the whole JVM.
     */
    public static synchronized void build(SameDiff sd, String... placeholders) {
        PrintStream out = System.out;
        System.setOut(new PrintStream(OutputStream.nullOutputStream()));
        try {
            if (placeholders.length == 0) sd.createGradFunction();
            else sd.createGradFunction(placeholders);
        } finally {
            System.setOut(out);
        }
    }
}
