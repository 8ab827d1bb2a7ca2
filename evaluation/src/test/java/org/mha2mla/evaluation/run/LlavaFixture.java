package org.mha2mla.evaluation.run;

import java.nio.file.Path;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.fixtures.Fixtures;

/**
 * The llava fixture (tiny LlavaForConditionalGeneration by transformers 5.17, the test-fixtures module's hf/llava)
 * and its processor: 16 image tokens per image ((56 / 14)² patches).
 */
final class LlavaFixture {

    static final int IMAGE_TOKENS = 16;

    private LlavaFixture() {
    }

    static Path dir() {
        return Fixtures.hf("llava");
    }

    static SafeTensorsFile golden() {
        return SafeTensorsFile.open(dir().resolve("golden.safetensors"));
    }

    /** The fixture's own processor (tokenizer, chat template, CLIP image processor). */
    static ProcessorEncoder encoder() {
        return ProcessorEncoder.load(dir());
    }

    static byte[] image0() {
        try {
            return java.nio.file.Files.readAllBytes(dir().resolve("image0.png"));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }
}
