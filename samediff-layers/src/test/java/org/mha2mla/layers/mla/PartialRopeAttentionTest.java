package org.mha2mla.layers.mla;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.partialrope.PartialRope;
import org.mha2mla.core.partialrope.RopeSelection;
import org.mha2mla.core.partialrope.RopeStrategy;
import org.mha2mla.core.rope.CosSin;
import org.mha2mla.layers.Fixtures;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.GqaAttention;
import org.mha2mla.layers.text.TextDecoder;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The partial-RoPE graph against core's reference rotation ({@link PartialRope#applyRotary}) on the Qwen2.5-VL fixture
 * (GQA, M-RoPE tables, q/k biases): the attention probabilities of every layer, from the graph's own pre-RoPE q and k.
 */
class PartialRopeAttentionTest {

    @Test
    void attentionEqualsCorePartialRotationOnTheKeptPairsOnly() {
        VisionLanguageModel original = VlmLoader.load(Fixtures.dir("qwen2_5_vl"));
        Mha2MlaConverter.Result r = Mha2MlaConverter.convert(original, List.of(),
                Mha2MlaConverter.Options.defaults(0).with(Mha2MlaConfig.Step.ROPE).with(RopeStrategy.LOW));
        VisionLanguageModel m = r.model();
        TextConfig t = m.config().textConfig();
        RopeSelection sel = r.conversion().selection(t.headDim());
        assertEquals(PartialRope.select(RopeStrategy.LOW, 3, 2, 16, 4, null), sel);
        DecoderInput in = m.decoderInput(Fixtures.input("qwen2_5_vl", "c0"));
        int length = in.length();
        for (int l = 0; l < t.numHiddenLayers(); l++) {
            String scope = TextDecoder.attentionScope(l);
            Map<String, INDArray> out = m.graph().run(in, TextDecoder.attentionProbs(l), GqaAttention.queryBeforeRope(scope),
                    GqaAttention.keyBeforeRope(scope));
            CosSin tables = new CosSin(in.rope().cos().reshape(length, t.headDim()), in.rope().sin().reshape(length, t.headDim()));
            INDArray q = PartialRope.applyRotary(heads(out.get(GqaAttention.queryBeforeRope(scope))), tables, sel.queryMasks(l, 4));
            INDArray k = PartialRope.applyRotary(heads(out.get(GqaAttention.keyBeforeRope(scope))), tables, sel.keyMasks(l));
            INDArray probs = out.get(TextDecoder.attentionProbs(l));
            double worst = 0;
            for (int h = 0; h < 4; h++) {
                INDArray scores = q.slice(h).mmul(k.slice(h / 2).transpose()).muli(1 / Math.sqrt(t.headDim()));
                for (int i = 0; i < length; i++) {
                    for (int j = i + 1; j < length; j++) scores.putScalar(i, j, -1e9);
                }
                INDArray expected = Transforms.softmax(scores, true);
                INDArray actual = probs.get(NDArrayIndex.point(0), NDArrayIndex.point(h), NDArrayIndex.all(), NDArrayIndex.all());
                worst = Math.max(worst, actual.sub(expected).amaxNumber().doubleValue());
            }
            assertTrue(worst < 1e-5, "layer " + l + ": probabilities differ by " + worst);
        }
        // NoPE dims are not rotated: the partial model differs from the original, which rotates every pair
        org.mha2mla.layers.MultimodalInput c0 = Fixtures.input("qwen2_5_vl", "c0");
        assertTrue(r.model().logits(c0).sub(original.logits(c0)).amaxNumber().doubleValue() > 1e-3);
    }

    static INDArray heads(INDArray x) {
        return x.reshape(x.size(1), x.size(2), x.size(3)).dup('c');
    }
}
