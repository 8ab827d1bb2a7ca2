package org.mha2mla.layers.decode;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.tensor.Precision;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.SafeTensorsWriter;
import org.mha2mla.importers.weights.ArraySource;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.Fixtures;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.generation.CachePolicy;
import org.mha2mla.layers.generation.Generator;
import org.mha2mla.layers.mla.Mha2MlaConverter;
import org.mha2mla.layers.text.LayerwiseDecoder;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The eager decode step of the original and the partial-RoPE attention ({@link GqaStep}) against the whole-model
 * graph's full pass, on the three fixtures: LLaVA (MHA, 4 heads, no biases), LLaVA-NeXT (GQA 8/2), Qwen2.5-VL (GQA
 * with q/k/v biases), batches of 1 and 3.
 */
class DecodeStepTest {

    @ParameterizedTest
    @CsvSource({"llava, 1", "llava, 3", "llava_next, 1", "llava_next, 3", "qwen2_5_vl, 1", "qwen2_5_vl, 3"})
    void originalAttentionStepsEqualTheFullPass(String fixture, int batch) {
        VisionLanguageModel model = VlmLoader.load(Fixtures.dir(fixture));
        FullPassCheck.Result r = FullPassCheck.run(model, batch, 11, 5, 3, false);
        System.out.printf("%s GQA batch %d: decode steps vs full pass max abs %.2e (relative %.2e)%n", fixture, batch, r.maxAbs(), r.relative());
        assertTrue(r.maxAbs() <= 1e-4, fixture + " batch " + batch + ": " + r.maxAbs());
    }

    @ParameterizedTest
    @CsvSource({"llava_next, 1", "llava_next, 3", "qwen2_5_vl, 1", "qwen2_5_vl, 3"})
    void partialRopeStepsEqualTheFullPass(String fixture, int batch) {
        VisionLanguageModel original = VlmLoader.load(Fixtures.dir(fixture));
        VisionLanguageModel model = Mha2MlaConverter.convert(original, List.of(Fixtures.input(fixture, "c0"), Fixtures.input(fixture, "c1")),
                Mha2MlaConverter.Options.defaults(4).with(Mha2MlaConfig.Step.ROPE)).model();
        FullPassCheck.Result r = FullPassCheck.run(model, batch, 11, 5, 5, false);
        System.out.printf("%s partial RoPE batch %d: decode steps vs full pass max abs %.2e (relative %.2e)%n", fixture, batch, r.maxAbs(), r.relative());
        assertTrue(r.maxAbs() <= 1e-4, fixture + " batch " + batch + ": " + r.maxAbs());
    }

    /**
     * A prompt in query blocks (4 of its 11 rows at a time) is prefilled as a long prompt is: each layer's pass first
     * hands the mapped weights' pages back to the page cache, and the pass closes its float32 buffers at the end. The
     * decode steps after it read the same mapped weights again and still give the full pass's logits.
     */
    @ParameterizedTest
    @CsvSource({"llava_next, 1", "qwen2_5_vl, 3"})
    void stepsAfterAPrefillInQueryBlocksEqualTheFullPass(String fixture, int batch) {
        VisionLanguageModel model = VlmLoader.load(Fixtures.dir(fixture));
        org.mha2mla.core.config.TextConfig t = model.config().textConfig();
        long bytes = 4L * batch * t.numAttentionHeads() * 11 * 4;
        assertEquals(4, LayerwiseDecoder.queryRows(batch, t.numAttentionHeads(), 11, bytes), "query rows per block");
        try (LayerwiseDecoder blocked = new LayerwiseDecoder(model.weights(), t, model.decoderPrefix(), model.lmHeadKey(),
                model.attention(), LayerwiseDecoder.Residency.KEEP, bytes)) {
            FullPassCheck.Result r = FullPassCheck.run(model, DecodeStep.of(blocked, null), batch, 11, 5, 3, false);
            System.out.printf("%s batch %d, prefill in query blocks: decode steps vs full pass max abs %.2e%n", fixture, batch, r.maxAbs());
            assertTrue(r.maxAbs() <= 1e-4, fixture + " batch " + batch + ": " + r.maxAbs());
        }
    }

    /**
     * A bf16 checkpoint is decoded from its mapped bytes: the step reads the stored bf16 weights (widened lane by lane
     * inside the matrix-vector kernels) and gives the logits of the same model over float32 copies of those values.
     */
    @Test
    void bf16WeightsAreDecodedInTheirStoredPrecision(@TempDir Path dir) throws IOException {
        Path fixture = Fixtures.dir("llava");
        try (Stream<Path> files = Files.list(fixture)) {
            for (Path f : (Iterable<Path>) files::iterator) {
                if (!f.getFileName().toString().endsWith(".safetensors")) Files.copy(f, dir.resolve(f.getFileName()));
            }
        }
        try (TensorSource source = Checkpoint.open(fixture)) {
            Map<String, INDArray> all = new LinkedHashMap<>();
            for (String name : source.names()) all.put(name, source.get(name));
            SafeTensorsWriter.write(dir.resolve(SafeTensorsWriter.SINGLE_FILE), all, Map.of(), DType.BF16);
        }
        VisionLanguageModel bf16 = VlmLoader.load(dir);
        String q = bf16.decoder().layerKey(0) + ".self_attn.q_proj.weight";
        assertEquals(Precision.BF16, bf16.decoder().stored(q).precision());
        Map<String, INDArray> widened = new LinkedHashMap<>();
        for (String name : bf16.weights().names()) widened.put(name, bf16.weights().get(name));
        VisionLanguageModel f32 = bf16.with(null, new ArraySource(widened, "float32 copies"));
        assertEquals(Precision.F32, f32.decoder().stored(q).precision());

        MultimodalInput prompt = MultimodalInput.text(new long[]{1, 17, 99, 250, 5, 44, 7});
        Generator.Session a = bf16.generator(prompt, CachePolicy.FULL).start(bf16.decoderInput(prompt), 16);
        Generator.Session b = f32.generator(prompt, CachePolicy.FULL).start(f32.decoderInput(prompt), 16);
        double worst = maxAbs(a.logits(), b.logits());
        long token = Generator.argmax(a.logits());
        for (int s = 0; s < 6; s++) {
            assertEquals(token, Generator.argmax(b.logits()), "step " + s);
            worst = Math.max(worst, maxAbs(a.step(token), b.step(token)));
            token = Generator.argmax(a.logits());
        }
        System.out.printf("llava in bf16: decode over the mapped bf16 weights vs float32 copies, max abs %.2e%n", worst);
        assertTrue(worst <= 1e-6, "bf16 vs widened float32 weights: " + worst);
    }

    private static double maxAbs(float[] a, float[] b) {
        double m = 0;
        for (int i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
        return m;
    }
}
