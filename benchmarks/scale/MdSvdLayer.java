import java.util.Arrays;

import org.mha2mla.core.svd.MdSvd;
import org.mha2mla.core.svd.ModalityCovariance;
import org.mha2mla.core.svd.ModalityFactors;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * MD-SVD of one decoder layer at a paper model's shape, alone: W = [W_k,nope; W_v] [rows, d] and the covariances of
 * the text and visual tokens an 8-sample calibration gives, then {@code MdSvd.factorize} of both modalities, timed
 * {@code RUNS} times in one process (the first includes the JIT's warm-up). Random data, so only the time is a figure:
 * W ~ N(0, 0.02²); tokens ~ N(0, 1) with channel scales from 1 down to 0.01 and every 97th channel 30× larger, as
 * activations have outlier channels. The shapes (d_r = d_h / 4, d_kv of `run.sh`):
 * <pre>
 *   llava  7168 4096 512 304 4608     (MHA, 32 KV heads: rows > d, the Cholesky route)
 *   next   1792 4096 256 34 2928
 *   qwen    896 3584 256 257 2064     (GQA: rows ≤ d, the rows × rows route)
 * </pre>
 * Usage: MdSvdLayer ROWS D RANK TEXT_TOKENS VISUAL_TOKENS [RUNS]
 */
public final class MdSvdLayer {
    public static void main(String[] args) {
        int[] a = Arrays.stream(args).mapToInt(Integer::parseInt).toArray();
        int rows = a[0], d = a[1], rank = a[2], text = a[3], visual = a[4];
        int runs = a.length > 5 ? a[5] : 3;
        Nd4j.getRandom().setSeed(11);
        INDArray w = Nd4j.randn(DataType.FLOAT, rows, d).muli(0.02);
        float[] scales = new float[d];
        for (int j = 0; j < d; j++) scales[j] = (float) (Math.pow(10, -2.0 * j / d) * (j % 97 == 0 ? 30 : 1));
        ModalityCovariance stats = new ModalityCovariance(d);
        for (int m = 0; m < 2; m++) {
            int n = m == 0 ? text : visual;
            boolean[] isVisual = new boolean[n];
            Arrays.fill(isVisual, m == 1);
            stats.add(Nd4j.randn(DataType.FLOAT, n, d).muliRowVector(Nd4j.createFromArray(scales)), isVisual);
        }
        for (int run = 1; run <= runs; run++) {
            long t0 = System.nanoTime();
            ModalityFactors f = MdSvd.factorize(w, stats, rank, MdSvd.DEFAULT_EPS);
            System.out.printf("MD-SVD of one layer, W %d x %d, rank %d, %d text + %d visual tokens: run %d %.2f s (loss %.7e)%n",
                    rows, d, rank, text, visual, run, (System.nanoTime() - t0) / 1e9,
                    f.text().truncationLoss() + f.visual().truncationLoss());
        }
    }
}
