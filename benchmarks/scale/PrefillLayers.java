import java.nio.file.Path;
import java.util.Arrays;
import java.util.Locale;
import java.util.Map;

import org.mha2mla.core.config.TextConfig;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.text.AttentionMask;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.LayerwiseDecoder;
import org.mha2mla.layers.text.RopeTables;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The decoder's prefill alone, layer by layer: one {@code LayerwiseDecoder.forward} over {@code LENGTH} random hidden
 * states (causal mask, positions 0..LENGTH-1; LLaVA-NeXT's 448² prompt is 2,959 tokens), the wall time of every layer,
 * and the median layer after the first as a rate of the projections' and MLP's arithmetic (2 · params · tokens): how
 * close the whole layer runs to the BLAS's rate, which bounds it. Without the vision tower and the lm_head, so a slow layer shows as itself.
 * Usage: PrefillLayers MODEL_DIR [LENGTH]
 */
public final class PrefillLayers {
    public static void main(String[] args) throws Exception {
        int length = args.length > 1 ? Integer.parseInt(args[1]) : 2959;
        try (VisionLanguageModel m = VlmLoader.load(Path.of(args[0]))) {
            LayerwiseDecoder decoder = m.decoder();
            TextConfig c = decoder.config();
            Nd4j.getRandom().setSeed(1);
            INDArray h = Nd4j.randn(DataType.FLOAT, 1, length, c.hiddenSize()).muli(0.02);
            DecoderInput in = new DecoderInput(h, RopeTables.forRange(c, 0, length), AttentionMask.causal(length, 0));
            double[] seconds = new double[c.numHiddenLayers()];
            long[] last = {System.nanoTime()};
            long start = last[0];
            INDArray out = decoder.forward(in, new LayerwiseDecoder.LayerHook() {
                @Override
                public void accept(int layer, Map<String, INDArray> outputs) {
                    long now = System.nanoTime();
                    seconds[layer] = (now - last[0]) / 1e9;
                    last[0] = now;
                    System.out.printf(Locale.ROOT, "layer %2d %6.2f s%n", layer, seconds[layer]);
                }
            });
            double wall = (System.nanoTime() - start) / 1e9;
            double[] later = Arrays.copyOfRange(seconds, Math.min(1, seconds.length - 1), seconds.length);
            Arrays.sort(later);
            double median = later[later.length / 2];
            // q, o: d × n_h·d_h; k, v: d × n_kv·d_h; gate, up, down: d × intermediate
            double d = c.hiddenSize(), q = (double) c.numAttentionHeads() * c.headDim(), kv = (double) c.numKeyValueHeads() * c.headDim();
            double projectionFlop = 2.0 * length * (2 * d * q + 2 * d * kv + 3 * d * c.intermediateSize());
            System.out.printf(Locale.ROOT, "forward %.1f s, %.2f tokens/s; first layer %.2f s, median of the others %.2f s "
                            + "(the projections' and MLP's arithmetic over that time: %.0f GFLOP/s); output sum %.4f%n",
                    wall, length / wall, seconds[0], median, projectionFlop / median / 1e9, out.sumNumber().doubleValue());
        }
    }
}
