package org.mha2mla.evaluation.parity;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.SafeTensorsWriter;
import org.mha2mla.layers.MultimodalInput;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Writes a golden file that {@link GoldenParity} (and {@code mha2mla parity}) reads: per case {@code cN.input_ids},
 * {@code cN.pixel_values}, {@code cN.image_sizes} / {@code cN.image_grid_thw} (as the input has them), {@code cN.logits}
 * [L, vocab] and {@code cN.generated_ids}, from any
 * way of computing a prompt's logits. The demo records its pretraining graph's logits this way, so that parity checks
 * the saved folder, loaded by the inference path, against what was trained.
 */
public final class GoldenWriter {

    private GoldenWriter() {
    }

    /**
     * Writes {@code cases} with the logits {@code logits} gives; greedy ids are decoded without a cache (the whole
     * sequence again per token) up to {@code newTokens} or the first of {@code eos}, which is kept.
     */
    public static void write(Path file, List<MultimodalInput> cases, Function<MultimodalInput, INDArray> logits,
                             Collection<Integer> eos, int newTokens, String source) {
        Map<String, INDArray> out = new LinkedHashMap<>();
        for (int c = 0; c < cases.size(); c++) {
            MultimodalInput in = cases.get(c);
            INDArray first = logits.apply(in);
            long[] ids = in.inputIds();
            List<Long> generated = new ArrayList<>();
            INDArray last = first;
            while (generated.size() < newTokens) {
                long token = last.getRow(last.rows() - 1).argMax().getLong(0);
                generated.add(token);
                if (eos.contains((int) token)) break;
                ids = Arrays.copyOf(ids, ids.length + 1);
                ids[ids.length - 1] = token;
                last = logits.apply(new MultimodalInput(ids, in.pixelValues(), in.imageSizes(), in.imageGridThw()));
            }
            out.put("c" + c + ".input_ids", Nd4j.createFromArray(in.inputIds()));
            if (in.pixelValues() != null) out.put("c" + c + ".pixel_values", in.pixelValues());
            if (in.imageSizes() != null) {
                long[] sizes = Arrays.stream(in.imageSizes()).flatMapToInt(Arrays::stream).asLongStream().toArray();
                out.put("c" + c + ".image_sizes", Nd4j.createFromArray(sizes));
            }
            if (in.imageGridThw() != null) {
                long[] grid = Arrays.stream(in.imageGridThw()).flatMapToInt(Arrays::stream).asLongStream().toArray();
                out.put("c" + c + ".image_grid_thw", Nd4j.createFromArray(grid));
            }
            out.put("c" + c + ".logits", first);
            out.put("c" + c + ".generated_ids", Nd4j.createFromArray(generated.stream().mapToLong(Long::longValue).toArray()));
        }
        SafeTensorsWriter.write(file, out, Map.of("format", "pt", "source", source), DType.F32);
    }
}
