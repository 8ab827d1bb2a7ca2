package org.mha2mla.layers.mla;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;

import org.junit.jupiter.api.Test;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.partialrope.RopeSelection;
import org.mha2mla.core.svd.SvdMethod;
import org.mha2mla.layers.Fixtures;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.text.AttentionMask;
import org.mha2mla.layers.text.DecoderAttention;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.RopeTables;
import org.mha2mla.layers.text.TextDecoder;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * The MLA decode path in general form — a batch of two sequences with different modality patterns, a chunk of two
 * new tokens per step, a padded position — against the full-sequence training graph, on the LLaVA-NeXT fixture
 * (GQA group 4) converted with MD-SVD and with joint SVD.
 */
class MlaAttentionTest {

    static final int T0 = 9;     // cached tokens
    static final int NEW = 2;    // tokens per decode step

    @Test
    void batchedChunkedDecodeOverTheLatentCacheEqualsTheFullPass() {
        VisionLanguageModel original = VlmLoader.load(Fixtures.dir("llava_next"));
        List<org.mha2mla.layers.MultimodalInput> calib = List.of(Fixtures.input("llava_next", "c0"), Fixtures.input("llava_next", "c1"));
        for (SvdMethod svd : new SvdMethod[] {SvdMethod.MD, SvdMethod.SVD_LLM}) {
            Mha2MlaConverter.Result r = Mha2MlaConverter.convert(original, calib, Mha2MlaConverter.Options.defaults(3).with(svd));
            TextDecoder decoder = r.model().graph();
            TextConfig t = decoder.config();
            int total = T0 + NEW;
            Random rng = new Random(7);
            INDArray embeds = Nd4j.randn(DataType.FLOAT, 2, total, t.hiddenSize()).muli(0.05);
            float[] mod = new float[2 * total];
            for (int i = 0; i < mod.length; i++) mod[i] = rng.nextBoolean() ? DecoderInput.VISUAL : DecoderInput.TEXT;
            INDArray modality = Nd4j.create(mod, new long[] {2, total}, 'c');
            long[][] keep = new long[2][total];
            for (long[] k : keep) java.util.Arrays.fill(k, 1);
            keep[1][0] = 0;   // sequence 1 is left-padded by one token
            RopeTables rope = RopeTables.forRange(t, 0, total);
            INDArray full = decoder.run(new DecoderInput(embeds, rope, AttentionMask.causal(keep, total), modality), TextDecoder.LOGITS)
                    .get(TextDecoder.LOGITS).dup();

            DecoderInput prompt = new DecoderInput(slice(embeds, 0, T0), RopeTables.forRange(t, 0, T0),
                    AttentionMask.causal(prefix(keep, T0), T0), slice2(modality, 0, T0));
            List<String> names = new ArrayList<>();
            for (int l = 0; l < decoder.numLayers(); l++) {
                for (DecoderAttention.CacheTensor c : decoder.cacheTensors(l)) names.add(TextDecoder.present(l, c.name()));
            }
            Map<String, INDArray> pre = decoder.run(prompt, names.toArray(new String[0]));
            List<List<INDArray>> past = new ArrayList<>();
            for (int l = 0; l < decoder.numLayers(); l++) {
                List<INDArray> layer = new ArrayList<>();
                for (DecoderAttention.CacheTensor c : decoder.cacheTensors(l)) layer.add(pre.get(TextDecoder.present(l, c.name())).dup());
                past.add(layer);
            }
            assertArrayEquals(new long[] {2, 1, T0, 2 * 3}, past.get(0).get(0).shape());              // c_kv: n_kv·d_kv = 6
            assertArrayEquals(new long[] {2, 2, T0, 2}, past.get(0).get(1).shape());                  // k_rope: d_r = 2
            assertEquals(svd == SvdMethod.MD ? 3 : 2, past.get(0).size());                             // modality tag only when decoupled
            DecoderInput step = new DecoderInput(slice(embeds, T0, total), RopeTables.forRange(t, T0, NEW),
                    AttentionMask.causal(keep, NEW), slice2(modality, T0, total));
            INDArray stepLogits = decoder.runStep(step, past, TextDecoder.STEP + TextDecoder.LOGITS).get(TextDecoder.STEP + TextDecoder.LOGITS);
            INDArray expected = full.get(NDArrayIndex.all(), NDArrayIndex.interval(T0, total), NDArrayIndex.all());
            double err = stepLogits.sub(expected).amaxNumber().doubleValue() / expected.amaxNumber().doubleValue();
            System.out.printf("MLA (%s) batched 2-token decode vs full pass: relative max abs %.2e%n", svd.id(), err);
            assertTrue(err < 1e-5, svd + ": " + err);
        }
    }

    @Test
    void cacheTensorsAndSelectionChecks() {
        TextConfig t = original().config().textConfig();
        SameDiff sd = SameDiff.create();
        RopeSelection wrongHeads = RopeSelection.all(3, 4, t.headDim());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new MlaAttention(sd, t, "x.self_attn", wrongHeads, 0, 2, true));
        assertTrue(e.getMessage().contains("n_kv = 2"), e.getMessage());
    }

    static VisionLanguageModel original() {
        return VlmLoader.load(Fixtures.dir("llava_next"));
    }

    static INDArray slice(INDArray x, int from, int to) {
        return x.get(NDArrayIndex.all(), NDArrayIndex.interval(from, to), NDArrayIndex.all()).dup('c');
    }

    static INDArray slice2(INDArray x, int from, int to) {
        return x.get(NDArrayIndex.all(), NDArrayIndex.interval(from, to)).dup('c');
    }

    static long[][] prefix(long[][] keep, int n) {
        long[][] out = new long[keep.length][];
        for (int b = 0; b < keep.length; b++) out[b] = java.util.Arrays.copyOf(keep[b], n);
        return out;
    }
}
