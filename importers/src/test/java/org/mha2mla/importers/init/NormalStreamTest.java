package org.mha2mla.importers.init;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;

import org.junit.jupiter.api.Test;

/** The ziggurat's draws against the standard normal's closed forms. */
class NormalStreamTest {

    static final int N = 2_000_000;

    /** Φ(x) from Abramowitz &amp; Stegun 7.1.26 (|error| ≤ 1.5e-7, far below the tolerances here). */
    static double phi(double x) {
        double z = Math.abs(x) / Math.sqrt(2);
        double t = 1 / (1 + 0.3275911 * z);
        double erf = 1 - t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
                * Math.exp(-z * z);
        return x >= 0 ? 0.5 * (1 + erf) : 0.5 * (1 - erf);
    }

    @Test
    void momentsTailsAndDistributionMatchTheStandardNormal() {
        NormalStream s = new NormalStream(12345);
        double[] x = new double[N];
        double sum = 0, sq = 0;
        for (int i = 0; i < N; i++) {
            x[i] = s.nextGaussian();
            sum += x[i];
            sq += x[i] * x[i];
        }
        double mean = sum / N;
        double var = sq / N - mean * mean;
        assertTrue(Math.abs(mean) < 5 / Math.sqrt(N), "mean " + mean);
        assertTrue(Math.abs(var - 1) < 5 * Math.sqrt(2.0 / N), "variance " + var);

        // Two-sided tail frequencies, the last one beyond the ziggurat's base x = 3.4426 (its tail algorithm).
        for (double c : new double[]{1, 2, 3, 3.442619855899, 4}) {
            long beyond = Arrays.stream(x).filter(v -> Math.abs(v) > c).count();
            double p = 2 * (1 - phi(c));
            double sd = Math.sqrt(N * p * (1 - p));
            assertTrue(Math.abs(beyond - N * p) < 5 * sd, "|x| > " + c + ": " + beyond + " draws, expected " + N * p + " ± " + sd);
        }

        // Kolmogorov–Smirnov: the 0.1% critical value of sqrt(n)·D is 1.95.
        Arrays.sort(x);
        double d = 0;
        for (int i = 0; i < N; i++) {
            double f = phi(x[i]);
            d = Math.max(d, Math.max((i + 1.0) / N - f, f - (double) i / N));
        }
        assertTrue(Math.sqrt(N) * d < 1.95, "KS sqrt(n)·D = " + Math.sqrt(N) * d);
    }

    @Test
    void chunkStreamsAreReproducibleAndDistinct() {
        double a = NormalStream.forChunk(7, "model.embed_tokens.weight", 3).nextGaussian();
        assertEquals(a, NormalStream.forChunk(7, "model.embed_tokens.weight", 3).nextGaussian(), 0.0);
        assertNotEquals(a, NormalStream.forChunk(8, "model.embed_tokens.weight", 3).nextGaussian());
        assertNotEquals(a, NormalStream.forChunk(7, "model.embed_tokens.weight", 4).nextGaussian());
        assertNotEquals(a, NormalStream.forChunk(7, "lm_head.weight", 3).nextGaussian());
        // Neighbouring chunks are uncorrelated: the correlation of 10^5 paired draws is within sampling error.
        NormalStream u = NormalStream.forChunk(7, "w", 0), v = NormalStream.forChunk(7, "w", 1);
        int n = 100_000;
        double sxy = 0;
        for (int i = 0; i < n; i++) sxy += u.nextGaussian() * v.nextGaussian();
        assertTrue(Math.abs(sxy / n) < 5 / Math.sqrt(n), "correlation " + sxy / n);
    }
}
