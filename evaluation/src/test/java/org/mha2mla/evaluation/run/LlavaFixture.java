package org.mha2mla.evaluation.run;

import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.List;

import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The llava fixture (tiny LlavaForConditionalGeneration by transformers 5.17, copied from ../shared/fixtures/hf)
 * and the test processor for it: the real tokenizer.json and chat template, and for every image the fixture's
 * golden pixel values (what LlavaProcessor made of image0.png) with 16 image tokens ((56 / 14)² patches).
 */
final class LlavaFixture {

    static final int IMAGE_TOKENS = 16;

    private LlavaFixture() {
    }

    static Path dir() {
        try {
            return Path.of(LlavaFixture.class.getResource("/hf/llava/config.json").toURI()).getParent();
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }

    static SafeTensorsFile golden() {
        return SafeTensorsFile.open(dir().resolve("golden.safetensors"));
    }

    /** The fixture processor's image side: golden pixels, one [1, 3, 56, 56] block per image. */
    static ChatTemplateEncoder.ImageInputs goldenPixels() {
        INDArray pixels;
        try (SafeTensorsFile g = golden()) {
            pixels = g.readFloat32("c0.pixel_values");
        }
        return new ChatTemplateEncoder.ImageInputs() {
            @Override
            public String placeholder() {
                return "<image>";
            }

            @Override
            public ChatTemplateEncoder.Processed process(List<byte[]> images) {
                INDArray[] each = new INDArray[images.size()];
                int[] tokens = new int[images.size()];
                for (int i = 0; i < each.length; i++) {
                    each[i] = pixels;
                    tokens[i] = IMAGE_TOKENS;
                }
                return new ChatTemplateEncoder.Processed(org.nd4j.linalg.factory.Nd4j.concat(0, each), tokens, null, null);
            }
        };
    }

    static ChatTemplateEncoder encoder() {
        return ChatTemplateEncoder.load(dir(), goldenPixels());
    }
}
