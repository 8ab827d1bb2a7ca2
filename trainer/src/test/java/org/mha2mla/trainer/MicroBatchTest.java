package org.mha2mla.trainer;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;

import org.junit.jupiter.api.Test;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.text.TextDecoder;
import org.mha2mla.trainer.data.TrainingExample;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class MicroBatchTest {

    @Test
    void padsRightWithMaskedKeysIdentityRopeAndNoTargets() {
        try (VisionLanguageModel m = VlmLoader.load(TestFixtures.dir("qwen2_5_vl"))) {
            TrainingExample a = GoldenExamples.example("qwen2_5_vl", "c0", 5);      // 47 tokens, image
            TrainingExample b = GoldenExamples.example("qwen2_5_vl", "c1", 4);      // 22 tokens, text
            MicroBatch mb = MicroBatch.of(m, List.of(a, b));
            assertEquals(69, mb.tokens());
            assertEquals(5 + 4, mb.supervisedTokens());                          // k labelled tokens = k targets
            assertArrayEquals(new long[]{2, 47, 64}, mb.feed().get(TextDecoder.INPUTS_EMBEDS).shape());
            INDArray mask = mb.feed().get(TextDecoder.ATTENTION_MASK);
            assertArrayEquals(new long[]{2, 1, 47, 47}, mask.shape());
            assertEquals(0, mask.getDouble(1, 0, 21, 21), 0);
            assertEquals(-1e9, mask.getDouble(1, 0, 30, 22), 1);                  // padding key masked
            assertEquals(1.0, mb.feed().get(TextDecoder.COS).getDouble(1, 0, 30, 5), 0);
            assertEquals(0.0, mb.feed().get(TextDecoder.SIN).getDouble(1, 0, 30, 5), 0);
            assertEquals(LossMask.IGNORE_INDEX, mb.targets()[1][30]);
        }
    }

    /** Batching with padding changes nothing: loss and gradient of [a, b] equal those of a and b apart. */
    @Test
    void aPaddedBatchHasTheLossAndGradientOfItsExamplesApart() {
        try (VisionLanguageModel m = VlmLoader.load(TestFixtures.dir("qwen2_5_vl"))) {
            PeftStage stage = TestFixtures.stage(m, FreezeMask.stage1(), AdamW.Config.defaults(0), 0);
            TrainingExample a = GoldenExamples.example("qwen2_5_vl", "c0", 5);
            TrainingExample b = GoldenExamples.example("qwen2_5_vl", "c1", 4);
            double together = stage.accumulateGradients(List.of(MicroBatch.of(m, List.of(a, b))));
            java.util.Map<String, INDArray> g1 = new java.util.HashMap<>();
            stage.gradients().forEach((k, v) -> g1.put(k, v.dup()));
            double apart = stage.accumulateGradients(List.of(MicroBatch.of(m, List.of(a)), MicroBatch.of(m, List.of(b))));
            assertEquals(apart, together, 1e-5);
            for (String n : stage.trainable()) {
                double scale = g1.get(n).amaxNumber().doubleValue();
                assertEquals(0, g1.get(n).sub(stage.gradients().get(n)).amaxNumber().doubleValue(), 1e-4 * scale + 1e-7, n);
            }
        }
    }

    @Test
    void padSequenceFillsTheTail() {
        INDArray x = Nd4j.createFromArray(new float[][][]{{{1, 2}, {3, 4}}});
        INDArray p = MicroBatch.padSequence(x, 1, 3, 7);
        assertEquals(Nd4j.createFromArray(new float[][][]{{{1, 2}, {3, 4}, {7, 7}}}), p);
        assertEquals(DataType.FLOAT, p.dataType());
    }
}
