import java.util.List;
import java.util.Map;

import org.mha2mla.layers.text.RmsNorm;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Forward + backward time of one RMSNorm over [16, 100, 256] (a demo pretraining batch of 16): the project's
 * {@link RmsNorm} (row statistic and weight spread by matmuls) against the broadcasting formulation it replaced.
 * Run: {@code benchmarks/pretrain/run.sh --rmsnorm}.
 */
public class RmsNormBenchmark {

    public static void main(String[] args) {
        long[] shape = {16, 100, 256};
        for (int round = 0; round < 5; round++) {
            System.out.printf("round %d: broadcasting %.1f ms, RmsNorm (matmul spreading) %.1f ms per forward + backward%n", round,
                    time(broadcasting(shape)), time(project(shape)));
        }
    }

    static SameDiff broadcasting(long[] shape) {
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.var("x", Nd4j.randn(DataType.FLOAT, shape));
        SDVariable w = sd.var("w", Nd4j.rand(DataType.FLOAT, shape[2]));
        SDVariable variance = sd.expandDims(sd.mean(sd.math().square(x), false, -1), -1);
        x.mul(sd.math().rsqrt(variance.add(1e-6))).mul(w).sum().rename("loss");
        sd.setLossVariables("loss");
        return sd;
    }

    static SameDiff project(long[] shape) {
        SameDiff sd = SameDiff.create();
        SDVariable x = sd.var("x", Nd4j.randn(DataType.FLOAT, shape));
        sd.var("w", Nd4j.rand(DataType.FLOAT, shape[2]));
        new RmsNorm(sd, "w", shape[2], 1e-6).forward("y", x).sum().rename("loss");
        sd.setLossVariables("loss");
        return sd;
    }

    static double time(SameDiff sd) {
        for (int i = 0; i < 5; i++) sd.calculateGradients(Map.of(), List.of("x", "w"));
        int n = 20;
        long t0 = System.nanoTime();
        for (int i = 0; i < n; i++) sd.calculateGradients(Map.of(), List.of("x", "w"));
        return (System.nanoTime() - t0) / 1e6 / n;
    }
}
