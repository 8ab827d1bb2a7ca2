package org.mha2mla.examples;

import java.nio.file.Path;
import java.util.Arrays;

import org.mha2mla.Mha2Mla;
import org.mha2mla.layers.mla.Mha2MlaConverter;

/**
 * Converts a Hugging Face model folder to MLA with the library's Java API and generates from the result:
 * <pre>
 *   java --add-modules jdk.incubator.vector -cp "target/classes:target/lib/*" org.mha2mla.examples.ConvertAndGenerate \
 *        MODEL_DIR CALIBRATION.json OUT_DIR
 * </pre>
 * The calibration images are looked up in MODEL_DIR (the project's fixtures hold {@code image0.png}). Prints the
 * conversion report, the KV-cache bytes per token before and after, the greedy continuation, and {@code PASS} when the
 * converted folder loads, holds a smaller cache and generates.
 */
public final class ConvertAndGenerate {

    public static void main(String[] args) {
        if (args.length != 3) {
            System.err.println("usage: ConvertAndGenerate MODEL_DIR CALIBRATION.json OUT_DIR");
            System.exit(2);
        }
        Path model = Path.of(args[0]);
        Path calibration = Path.of(args[1]);
        Path out = Path.of(args[2]);

        // convert --step all: partial RoPE chosen by MKL, then MD-SVD to d_kv = 4 latent dims per KV head.
        Mha2MlaConverter.Options mla = Mha2MlaConverter.Options.builder(4).progress(false).build();
        Mha2Mla.Conversion conversion = Mha2Mla.convert(Mha2Mla.ConvertOptions.builder(model, out, mla)
                .calibration(calibration).imageRoot(model).overwrite(true).build());
        System.out.print(conversion.converted().report().table());

        long before;
        try (Mha2Mla.Model original = Mha2Mla.load(model)) {
            before = original.model().kvCacheBytesPerToken();
        }
        try (Mha2Mla.Model converted = Mha2Mla.load(conversion.dir())) {
            long after = converted.model().kvCacheBytesPerToken();
            Mha2Mla.Generation g = converted.generate(Mha2Mla.GenerateOptions.builder("What is the color of the square?")
                    .image(model.resolve("image0.png")).maxNewTokens(5).build());
            System.out.printf("KV cache: %d -> %d bytes per token%n", before, after);
            System.out.printf("generated %d tokens %s: %s%n", g.ids().length, Arrays.toString(g.ids()), g.text());
            boolean pass = converted.model().conversion() != null && after < before && g.ids().length > 0;
            System.out.println(pass ? "PASS" : "FAIL");
            if (!pass) System.exit(1);
        }
    }
}
