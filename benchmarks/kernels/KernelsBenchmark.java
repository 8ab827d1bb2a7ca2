import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;

import org.mha2mla.core.kv.Fp16;
import org.mha2mla.core.tensor.Kernels;
import org.mha2mla.core.tensor.MatVec;
import org.mha2mla.core.tensor.Parallel;
import org.mha2mla.core.tensor.Precision;
import org.mha2mla.core.tensor.StoredTensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Matrix-vector products of a decode step on one Qwen2.5-VL-7B MLP weight [18944, 3584] (gate_proj / up_proj shape):
 * the project's kernels ({@link MatVec}: the weight read in its stored precision, rows split over the cores) against
 * ND4J's {@code mmul} (OpenBLAS sgemm/gemv for float32; ND4J's own loops for bf16 and f16) on the same values, for
 * float32, bf16 and f16 storage (the float32 weight holds the bf16 values), batch 1 (GB/s of weight read: decode is bound by it) and batch 16 (GFLOP/s). Each figure is the
 * median of {@code --reps} products after {@code --warmup}; the project's result is checked against ND4J's float32
 * product of the same values (ND4J's 16-bit products round their output to 16 bits, so they are not the reference).
 *
 *   benchmarks/kernels/run.sh [--rows 18944] [--cols 3584] [--batch 1,16] [--dtypes f32,bf16,f16] [--reps 9] [--warmup 3]
 */
public final class KernelsBenchmark {

    public static void main(String[] args) {
        Map<String, String> a = new LinkedHashMap<>(Map.of("rows", "18944", "cols", "3584", "batch", "1,16", "reps", "9", "warmup", "3"));
        for (int i = 0; i + 1 < args.length; i += 2) a.put(args[i].replaceFirst("^--", ""), args[i + 1]);
        int rows = Integer.parseInt(a.get("rows"));
        int cols = Integer.parseInt(a.get("cols"));
        int reps = Integer.parseInt(a.get("reps"));
        int warmup = Integer.parseInt(a.get("warmup"));
        int[] batches = Arrays.stream(a.get("batch").split(",")).mapToInt(Integer::parseInt).toArray();

        Nd4j.getRandom().setSeed(1);
        INDArray w = Nd4j.randn(DataType.FLOAT, rows, cols).muli(0.02);
        // Each storage holds values it represents exactly, and its reference product is over those same values;
        // the float32 weight holds the bf16 values.
        INDArray bf16Values = w.castTo(DataType.BFLOAT16);
        INDArray f16Values = w.castTo(DataType.HALF);
        INDArray w32 = bf16Values.castTo(DataType.FLOAT);
        List<Case> cases = List.of(
                new Case(Precision.F32, StoredTensor.of("w", w32), w32, w32),
                new Case(Precision.BF16, stored(bf16Values, Precision.BF16), bf16Values, w32),
                new Case(Precision.F16, stored(f16Values, Precision.F16), f16Values, f16Values.castTo(DataType.FLOAT)));
        List<String> dtypes = Arrays.asList(a.getOrDefault("dtypes", "f32,bf16,f16").toUpperCase(Locale.ROOT).split(","));

        System.out.printf(Locale.ROOT, "W [%d, %d] (%.1f MB in float32, %.1f MB in 16 bits); %d threads (%d CPUs), Vector API: %s; "
                        + "ND4J OMP_NUM_THREADS %s; median of %d after %d warm-up%n", rows, cols, rows * (double) cols * 4 / 1e6,
                rows * (double) cols * 2 / 1e6, Parallel.threads(), Runtime.getRuntime().availableProcessors(), Kernels.vectorized(),
                System.getenv().getOrDefault("OMP_NUM_THREADS", "unset"), reps, warmup);
        System.out.printf("%6s %6s | %12s %10s %10s | %12s %10s %10s | %8s %10s%n", "batch", "dtype", "project ms", "GB/s", "GFLOP/s",
                "ND4J ms", "GB/s", "GFLOP/s", "speed-up", "max |Δy|");
        for (int batch : batches) {
            INDArray x = Nd4j.randn(DataType.FLOAT, batch, cols);
            float[] xs = x.data().asFloat();
            float[] y = new float[batch * rows];
            for (Case c : cases) {
                if (!dtypes.contains(c.precision().name())) continue;
                Precision p = c.precision();
                INDArray exact = x.mmul(c.reference().transpose());
                INDArray nd = c.nd4j();
                INDArray xn = x.castTo(nd.dataType());
                double[] ours = new double[reps];
                double[] theirs = new double[reps];
                for (int i = 0; i < warmup + reps; i++) {
                    long t0 = System.nanoTime();
                    MatVec.apply(c.stored(), xs, batch, y, null);
                    long t1 = System.nanoTime();
                    xn.mmul(nd.transpose());
                    long t2 = System.nanoTime();
                    if (i >= warmup) {
                        ours[i - warmup] = (t1 - t0) / 1e9;
                        theirs[i - warmup] = (t2 - t1) / 1e9;
                    }
                }
                double diff = Nd4j.create(y, new long[]{batch, rows}, 'c').sub(exact).amaxNumber().doubleValue();
                double bytes = (double) rows * cols * p.bytes();
                double flops = 2.0 * rows * cols * batch;
                double o = median(ours);
                double t = median(theirs);
                System.out.printf(Locale.ROOT, "%6d %6s | %12.2f %10.1f %10.1f | %12.2f %10.1f %10.1f | %7.1fx %10.2e%n", batch, p,
                        o * 1e3, bytes / o / 1e9, flops / o / 1e9, t * 1e3, bytes / t / 1e9, flops / t / 1e9, t / o, diff);
            }
        }
    }

    /** One storage: the project's tensor over its bytes, ND4J's array of the same values, their float32 values. */
    record Case(Precision precision, StoredTensor stored, INDArray nd4j, INDArray reference) {
    }

    /** A 16-bit ND4J array's values as a little-endian buffer of their bits, read by the project's kernels. */
    static StoredTensor stored(INDArray values, Precision p) {
        float[] v = values.castTo(DataType.FLOAT).data().asFloat();
        ByteBuffer b = ByteBuffer.allocateDirect(v.length * 2).order(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < v.length; i++) b.putShort(i * 2, p == Precision.BF16 ? (short) (Float.floatToRawIntBits(v[i]) >>> 16) : Fp16.fromFloat(v[i]));
        return StoredTensor.of("w", p, values.shape(), new ByteBuffer[]{b}, () -> { });
    }

    static double median(double[] x) {
        double[] s = x.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }
}
