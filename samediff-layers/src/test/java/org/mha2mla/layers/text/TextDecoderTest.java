package org.mha2mla.layers.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;

import org.junit.jupiter.api.Test;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.rope.Rope;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.layers.Fixtures;
import org.mha2mla.layers.llava.LlavaNextModel;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/** The decoder graph on a batch: left padding, per-row positions and the padding mask against single runs. */
class TextDecoderTest {

    @Test
    void leftPaddedBatchOfTwoEqualsEachSequenceAlone() {
        TextDecoder decoder = org.mha2mla.layers.VlmLoader.load(Fixtures.dir("llava_next")).graph(); // GQA 8/2, θ = 500000
        TextConfig cfg = decoder.config();
        try (SafeTensorsFile golden = Fixtures.golden("llava_next")) {
            long[] longIds = golden.readLongs("c1.input_ids"); // 26 text tokens
            long[] shortIds = Arrays.copyOfRange(longIds, 0, 17);
            int l = longIds.length;
            int pad = l - shortIds.length;
            long[] padded = new long[l];
            Arrays.fill(padded, 0, pad, 4); // any id: masked out
            System.arraycopy(shortIds, 0, padded, pad, shortIds.length);

            INDArray embeds = Nd4j.concat(0, decoder.embed(longIds), decoder.embed(padded));
            long[] keepShort = new long[l];
            Arrays.fill(keepShort, pad, l, 1);
            long[] keepLong = new long[l];
            Arrays.fill(keepLong, 1);
            // transformers: position_ids = cumsum(attention_mask) − 1, so the real tokens start at 0.
            long[] posShort = new long[l];
            for (int i = pad; i < l; i++) posShort[i] = i - pad;
            long[] posLong = new long[l];
            for (int i = 0; i < l; i++) posLong[i] = i;
            RopeTables rope = RopeTables.of(Rope.cosSin(posLong, cfg.headDim(), cfg.ropeTheta()),
                    Rope.cosSin(posShort, cfg.headDim(), cfg.ropeTheta()));
            INDArray batch = decoder.logits(new DecoderInput(embeds, rope, AttentionMask.causal(new long[][]{keepLong, keepShort}, l)));
            assertArrayEquals(new long[]{2, l, cfg.vocabSize()}, batch.shape());

            INDArray aloneLong = single(decoder, longIds);
            INDArray aloneShort = single(decoder, shortIds);
            double eLong = Fixtures.maxAbsDiff(batch.slice(0), aloneLong);
            double eShort = Fixtures.maxAbsDiff(batch.slice(1).get(NDArrayIndex.interval(pad, l), NDArrayIndex.all()), aloneShort);
            System.out.printf("batched vs single logits: long row %.3e, left-padded row %.3e%n", eLong, eShort);
            assertTrue(eLong <= 1e-5 && eShort <= 1e-5, "batched logits differ: " + eLong + ", " + eShort);
            // And the unbatched decoder still matches transformers on this prompt.
            assertTrue(Fixtures.maxAbsDiff(aloneLong, golden.readFloat32("c1.logits")) <= 1e-4);
        }
    }

    private static INDArray single(TextDecoder decoder, long[] ids) {
        INDArray logits = decoder.logits(new DecoderInput(decoder.embed(ids), RopeTables.forRange(decoder.config(), 0, ids.length),
                AttentionMask.causal(ids.length, 0)));
        return logits.slice(0);
    }
}
