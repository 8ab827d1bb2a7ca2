package org.mha2mla.importers.init;

import java.nio.charset.StandardCharsets;

/**
 * A seeded stream of standard normal deviates, fast enough for the 8 G values of a 7B checkpoint: SplitMix64 for the
 * uniform bits (Steele, Lea &amp; Flood 2014, the generator behind {@link java.util.SplittableRandom}) and the
 * Marsaglia–Tsang ziggurat with 128 layers for the normal (J. Stat. Softw. 5(8), 2000). About 99% of the draws take
 * the fast path: one 64-bit random number, one table compare, one multiply. {@code java.util.Random.nextGaussian}
 * (the polar method, two logs and a square root per pair) is some ten times slower.
 *
 * <p>The algorithm is written out here, not borrowed from the JDK, so the same seed gives the same values on every
 * JDK. Independent streams come from {@link #forChunk}: one per (seed, tensor name, chunk index), which is what lets
 * several threads fill one tensor and still produce bytes that do not depend on which thread drew which chunk.
 */
public final class NormalStream {
    private static final long GOLDEN_GAMMA = 0x9E3779B97F4A7C15L;
    private static final int LAYERS = 128;
    /** x-coordinate where the tail starts (r of Marsaglia &amp; Tsang for 128 layers). */
    private static final double R = 3.442619855899;
    /** Area of each layer (and of the base layer with its tail). */
    private static final double V = 9.91256303526217e-3;
    private static final double M1 = 2147483648.0; // 2^31: hz is a signed 32-bit integer
    private static final int[] KN = new int[LAYERS];
    private static final double[] WN = new double[LAYERS];
    private static final double[] FN = new double[LAYERS];

    static {
        // Marsaglia & Tsang's zigset for RNOR: layer i spans x in [0, x_i]; KN[i] is the fraction of layer i (scaled
        // to 2^31) inside the layer below, where a point is accepted without evaluating the density.
        double dn = R, tn = dn;
        double q = V / Math.exp(-0.5 * dn * dn);
        KN[0] = (int) ((dn / q) * M1);
        KN[1] = 0;
        WN[0] = q / M1;
        WN[LAYERS - 1] = dn / M1;
        FN[0] = 1.0;
        FN[LAYERS - 1] = Math.exp(-0.5 * dn * dn);
        for (int i = LAYERS - 2; i >= 1; i--) {
            dn = Math.sqrt(-2.0 * Math.log(V / dn + Math.exp(-0.5 * dn * dn)));
            KN[i + 1] = (int) ((dn / tn) * M1);
            tn = dn;
            FN[i] = Math.exp(-0.5 * dn * dn);
            WN[i] = dn / M1;
        }
    }

    private long state;

    public NormalStream(long seed) {
        this.state = seed;
    }

    /**
     * The stream of chunk {@code chunk} of tensor {@code name} under {@code seed}: its start state mixes the three, so
     * chunks and tensors get unrelated streams and no stream depends on another having been drawn.
     */
    public static NormalStream forChunk(long seed, String name, long chunk) {
        long h = mix64(seed ^ mix64(fnv1a64(name)));
        return new NormalStream(mix64(h + chunk * GOLDEN_GAMMA));
    }

    /** The next 64 uniformly distributed bits (SplitMix64). */
    public long nextLong() {
        return mix64(state += GOLDEN_GAMMA);
    }

    /** Uniform on the open interval (0, 1): never 0, so its logarithm is finite. */
    double nextOpenUniform() {
        return ((nextLong() >>> 11) + 0.5) * 0x1.0p-53;
    }

    /** The next standard normal deviate. */
    public double nextGaussian() {
        long bits = nextLong();
        int hz = (int) (bits >> 32);     // value bits: the upper half
        int iz = (int) bits & (LAYERS - 1); // layer: the lowest 7 bits, independent of hz
        if (Math.abs(hz) < KN[iz]) return hz * WN[iz];
        return slowPath(hz, iz);
    }

    /** Marsaglia &amp; Tsang's nfix: the wedge of a layer (accept against the density) or the tail beyond R. */
    private double slowPath(int hz, int iz) {
        while (true) {
            double x = hz * WN[iz];
            if (iz == 0) {
                // Tail: Marsaglia's 1964 method for x > R.
                double y;
                do {
                    x = -Math.log(nextOpenUniform()) / R;
                    y = -Math.log(nextOpenUniform());
                } while (y + y < x * x);
                return hz > 0 ? R + x : -R - x;
            }
            if (FN[iz] + nextOpenUniform() * (FN[iz - 1] - FN[iz]) < Math.exp(-0.5 * x * x)) return x;
            long bits = nextLong();
            hz = (int) (bits >> 32);
            iz = (int) bits & (LAYERS - 1);
            if (Math.abs(hz) < KN[iz]) return hz * WN[iz];
        }
    }

    /** SplitMix64's finaliser (Stafford's Mix13): a bijection of 64-bit values with full avalanche. */
    static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** 64-bit FNV-1a of the UTF-8 bytes: a stable hash of a tensor name (String.hashCode has only 32 bits). */
    static long fnv1a64(String s) {
        long h = 0xCBF29CE484222325L;
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xFF;
            h *= 0x100000001B3L;
        }
        return h;
    }
}
