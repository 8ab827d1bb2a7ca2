import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

import org.mha2mla.evaluation.parity.GoldenParity;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.importers.safetensors.SafeTensorsWriter;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Writes MODEL/golden.safetensors: the processor outputs of every case of a fixture's golden file (cN.input_ids,
 * attention_mask, pixel_values, image_sizes, image_grid_thw, mm_token_type_ids) with this project's logits and greedy
 * ids for MODEL (8 tokens, stopping at EOS as transformers' generate does). tools/hf_check_export.py compares
 * transformers' output on a converted folder with them.
 *
 * <pre>java -cp cli/target/mha2mla-cli.jar tools/ProjectGoldens.java FIXTURE/golden.safetensors MODEL [MODEL …]</pre>
 */
public class ProjectGoldens {

    public static void main(String[] args) throws Exception {
        if (args.length < 2) {
            System.err.println("usage: ProjectGoldens FIXTURE/golden.safetensors MODEL [MODEL …]");
            System.exit(2);
        }
        try (SafeTensorsFile fixture = SafeTensorsFile.open(Path.of(args[0]))) {
            for (int m = 1; m < args.length; m++) {
                Path dir = Path.of(args[m]);
                Map<String, org.nd4j.linalg.api.ndarray.INDArray> out = new LinkedHashMap<>();
                try (VisionLanguageModel model = VlmLoader.load(dir)) {
                    for (String c : GoldenParity.caseNames(fixture)) {
                        for (String k : new String[] {"input_ids", "attention_mask", "pixel_values", "image_sizes", "image_grid_thw",
                                "mm_token_type_ids"}) {
                            if (fixture.contains(c + "." + k)) out.put(c + "." + k, fixture.readAsIs(c + "." + k));
                        }
                        MultimodalInput in = GoldenParity.input(fixture, c);
                        out.put(c + ".logits", model.logits(in));
                        out.put(c + ".generated_ids", Nd4j.createFromArray(model.generate(in, 8, true)));
                    }
                }
                SafeTensorsWriter.write(dir.resolve("golden.safetensors"), out, Map.of(), DType.F32);
                System.out.println("wrote " + dir.resolve("golden.safetensors"));
            }
        }
    }
}
