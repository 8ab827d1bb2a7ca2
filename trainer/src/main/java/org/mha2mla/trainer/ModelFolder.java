package org.mha2mla.trainer;

import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Set;

import org.mha2mla.core.Limits;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.SafeTensorsWriter;
import org.mha2mla.importers.weights.Checkpoint;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.mla.ConversionReport;
import org.mha2mla.layers.mla.Mha2MlaConverter;
import org.mha2mla.trainer.data.InstructCalibration;
import org.mha2mla.trainer.data.ModelProcessor;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.VariableType;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Writes the trained model as a Hugging Face folder loadable exactly like the input: every tensor of the graph
 * under its hub key (model.safetensors, sharded with an index above {@link #MAX_SHARD_BYTES}), plus the input's
 * config, tokenizer, chat-template and processor files copied unchanged.
 */
public final class ModelFolder {

    /** transformers' save_pretrained default shard size (5 GB). */
    public static final long MAX_SHARD_BYTES = 5_000_000_000L;
    /** Side files copied from the input folder: configs, tokenizer, chat template, processor. */
    private static final Set<String> SIDE_FILE_EXTENSIONS = Set.of("json", "jinja", "txt", "model", "tiktoken");

    private ModelFolder() {
    }

    /** The storage dtype of the input model's floating tensors (the first one found), F32 if none. */
    public static DType inputDtype(Path modelDir) {
        try (Checkpoint c = Checkpoint.open(modelDir)) {
            for (String n : c.names()) {
                DType t = c.info(n).dtype();
                if (t.isFloating()) return t;
            }
        }
        return DType.F32;
    }

    /** The default cap of a calibration sample in tokens ({@code convert --max-length}), as GPTQ/AWQ-style calibration uses. */
    public static final int DEFAULT_CALIBRATION_LENGTH = 2048;

    /**
     * {@code mha2mla convert}: the folder {@code input} converted by {@code options}, calibrated on the first
     * {@code samples} records of the LLaVA-instruct file {@code calibration} (null: no calibration) through the
     * folder's own processor, written to {@code out} with {@code conversion_report.json}; returns the report.
     * Samples are capped at {@link #DEFAULT_CALIBRATION_LENGTH} tokens.
     */
    public static ConversionReport convert(Path input, Path calibration, Path imageRoot, int samples, Mha2MlaConverter.Options options,
                                           Path out, DType dtype) {
        return convert(input, calibration, imageRoot, samples, DEFAULT_CALIBRATION_LENGTH, options, out, dtype, System.out);
    }

    /**
     * As above, each calibration sample capped at {@code maxLength} tokens (and at the model's
     * {@code max_position_embeddings}): a longer one is cut, said in {@code log}, or refused when the cut would split
     * its image tokens. The input's weights must be finite: a NaN or infinite weight is named before any calibration.
     */
    public static ConversionReport convert(Path input, Path calibration, Path imageRoot, int samples, int maxLength,
                                           Mha2MlaConverter.Options options, Path out, DType dtype, PrintStream log) {
        Limits.requireAtLeast("--max-length", maxLength, 2);
        VlmConfig config = HfConfigParser.read(input);
        List<MultimodalInput> calib = List.of();
        if (calibration != null) {
            try (ModelProcessor processor = ModelProcessor.load(input)) {
                calib = new InstructCalibration(calibration, imageRoot, processor).load(samples);
            }
            calib = capCalibration(calib, calibration, maxLength, config, log);
        }
        try (VisionLanguageModel model = VlmLoader.load(input)) {
            requireFiniteWeights(TrainableModel.of(model).sameDiff(), input);
            Mha2MlaConverter.Result r = Mha2MlaConverter.convert(model, calib, options);
            writeConverted(r.model(), input, out, dtype);
            r.report().write(out.resolve("conversion_report.json"));
            return r.report();
        }
    }

    /**
     * Calibration samples cut to {@code min(maxLength, max_position_embeddings)} tokens; a sample whose image tokens
     * reach past the cap is refused (a partial image cannot be fed). The cut is reported in one line.
     */
    static List<MultimodalInput> capCalibration(List<MultimodalInput> samples, Path file, int maxLength, VlmConfig config, PrintStream log) {
        TextConfig text = config.textConfig();
        int cap = Math.min(maxLength, text.maxPositionEmbeddings());
        List<MultimodalInput> out = new ArrayList<>();
        int cut = 0;
        for (int i = 0; i < samples.size(); i++) {
            MultimodalInput in = samples.get(i);
            if (in.length() > cap) {
                long[] ids = in.inputIds();
                for (int t = cap; t < ids.length; t++) {
                    if (ids[t] == config.imageTokenId()) {
                        throw new IllegalArgumentException(file + ": calibration sample " + i + " has " + ids.length + " tokens with image "
                                + "tokens past position " + cap + " (--max-length " + maxLength + ", max_position_embeddings "
                                + text.maxPositionEmbeddings() + "); shorten the record or raise --max-length");
                    }
                }
                in = new MultimodalInput(Arrays.copyOf(ids, cap), in.pixelValues(), in.imageSizes(), in.imageGridThw());
                cut++;
            }
            String what = file + ": calibration sample " + i;
            Limits.requireAttentionMask(what, 1, in.length(), in.length());
            Limits.requireAttentionMemory(what, 1, text.numAttentionHeads(), in.length());
            out.add(in);
        }
        if (cut > 0) {
            log.println("calibration: " + cut + " of " + samples.size() + " samples longer than " + cap + " tokens cut to " + cap
                    + " (--max-length " + maxLength + ", max_position_embeddings " + text.maxPositionEmbeddings() + ")");
        }
        return out;
    }

    /**
     * Every weight finite: a NaN or infinite weight makes every calibration statistic NaN and the failure surfaces far
     * from its cause ("score of pair 0 is NaN"). A sum is finite exactly when no element is NaN or infinite (float
     * weights cannot overflow it), so the check costs one reduction per tensor.
     */
    static void requireFiniteWeights(SameDiff sd, Path input) {
        for (SDVariable v : sd.variables()) {
            if (v.getVariableType() != VariableType.VARIABLE || v.getArr() == null) continue;
            INDArray a = v.getArr();
            if (Double.isFinite(a.sumNumber().doubleValue())) continue;
            long nan = a.isNaN().castTo(DataType.INT64).sumNumber().longValue();
            long inf = a.isInfinite().castTo(DataType.INT64).sumNumber().longValue();
            throw new IllegalArgumentException(input + ": weight '" + v.name() + "' holds " + nan + " NaN and " + inf
                    + " infinite values (of " + a.length() + "); the conversion needs finite weights");
        }
    }

    /**
     * Writes a model converted in memory (by the MHA2MLA converter) as a folder {@code VlmLoader} reads back: every
     * weight of its graph (original names for the untouched ones, the MLA names for the converted attention), the
     * input folder's side files, and the input's config.json with the {@code "mha2mla"} section of
     * {@code model.conversion()}. Converted factors are not representable in bf16/f16 without rounding, so float32
     * ({@link DType#F32}) keeps the saved model equal to the in-memory one.
     */
    public static void writeConverted(VisionLanguageModel model, Path input, Path out, DType dtype) {
        Mha2MlaConfig conversion = model.conversion();
        if (conversion == null) throw new IllegalArgumentException("the model is not converted: its config has no mha2mla section");
        SameDiff sd = TrainableModel.of(model).sameDiff();
        List<String> parameters = new ArrayList<>();
        for (SDVariable v : sd.variables()) {
            if (v.getVariableType() == VariableType.VARIABLE) parameters.add(v.name());
        }
        write(sd, parameters, input, out, dtype);
        Path config = out.resolve("config.json");
        try {
            String json = Files.readString(input.resolve("config.json"));
            Files.writeString(config, HfConfigParser.withConversion(json, conversion, input.resolve("config.json").toString()));
        } catch (IOException e) {
            throw new UncheckedIOException(config + ": cannot write the converted config (" + e + ")", e);
        }
    }

    /** Writes {@code parameters} (current values in {@code sd}) and the input's side files to {@code out}. */
    public static void write(SameDiff sd, List<String> parameters, Path input, Path out, DType dtype) {
        List<SafeTensorsWriter.Entry> entries = new ArrayList<>();
        for (String n : parameters) {
            INDArray a = sd.getVariable(n).getArr();
            entries.add(new SafeTensorsWriter.Entry(n, dtype, a.shape(), () -> a));
        }
        try {
            Files.createDirectories(out);
            SafeTensorsWriter.writeSharded(out, entries, Map.of("format", "pt"), MAX_SHARD_BYTES);
            try (DirectoryStream<Path> ds = Files.newDirectoryStream(input)) {
                for (Path f : ds) {
                    String name = f.getFileName().toString();
                    int dot = name.lastIndexOf('.');
                    String ext = dot < 0 ? "" : name.substring(dot + 1);
                    if (!Files.isRegularFile(f) || !SIDE_FILE_EXTENSIONS.contains(ext) || name.equals(SafeTensorsWriter.INDEX_FILE)) continue;
                    Files.copy(f, out.resolve(name), StandardCopyOption.REPLACE_EXISTING);
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(out + ": cannot write the trained model (" + e + ")", e);
        }
    }
}
