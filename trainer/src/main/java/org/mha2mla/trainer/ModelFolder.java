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
import org.mha2mla.importers.weights.FiniteWeights;
import org.mha2mla.importers.weights.StoredCopy;
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.mla.CalibrationPasses;
import org.mha2mla.layers.mla.Conversion;
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
 * config, tokenizer, chat-template and processor files copied unchanged. A converted model's folder also gets the
 * transformers export ({@link TransformersExport}: the remote-code module and config.json's auto_map).
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

    /** {@link #convert(Path, Path, Path, int, long, int, Mha2MlaConverter.Options, Path, DType, PrintStream)} with the authors' seed 42, 2048 tokens per sample. */
    public static Converted convert(Path input, Path calibration, Path imageRoot, int samples, Mha2MlaConverter.Options options,
                                    Path out, DType dtype) {
        return convert(input, calibration, imageRoot, samples, InstructCalibration.DEFAULT_SEED, DEFAULT_CALIBRATION_LENGTH, options, out,
                dtype, System.out);
    }

    /**
     * {@code mha2mla convert}: the folder {@code input} converted by {@code options}, calibrated on {@code samples}
     * records of the LLaVA-instruct file {@code calibration} (null: no calibration) drawn after a shuffle by
     * {@code seed} ({@link InstructCalibration}) through the folder's own processor, each capped at {@code maxLength}
     * tokens (and the model's {@code max_position_embeddings}: a longer one is cut, said in {@code log}, or refused when
     * the cut would split its image tokens), streamed to {@code out} layer by layer (one layer converted and written at
     * a time) with {@code conversion_report.json}. A NaN or infinite input weight is refused, named.
     */
    public static Converted convert(Path input, Path calibration, Path imageRoot, int samples, long seed, int maxLength,
                                    Mha2MlaConverter.Options options, Path out, DType dtype, PrintStream log) {
        Limits.requireAtLeast("--max-length", maxLength, 2);
        long t0 = System.nanoTime();
        try (ModelProcessor processor = calibration == null ? null : ModelProcessor.load(input)) {
            List<MultimodalInput> calib = calibration == null ? List.of()
                    : calibrationDraw(input, processor, calibration, imageRoot, samples, seed, maxLength, log);
            return convert(input, calib.size(), (model, onSample) -> Mha2MlaConverter.localPasses(model, calib, options, onSample),
                    options, out, dtype, t0);
        }
    }

    /**
     * The calibration samples of a conversion of the folder {@code input}: {@code samples} records of {@code calibration}
     * drawn after a shuffle by {@code seed}, encoded by {@code processor} as they are read, each capped at
     * {@code maxLength} tokens and the model's positions (see {@link #convert}). The same list on every machine, so
     * that a machine holding a share of the samples takes its {@code subList}.
     */
    public static List<MultimodalInput> calibrationDraw(Path input, ModelProcessor processor, Path calibration, Path imageRoot, int samples,
                                                        long seed, int maxLength, PrintStream log) {
        return capCalibration(new InstructCalibration(calibration, imageRoot, processor, seed).load(samples), calibration, maxLength,
                HfConfigParser.read(input), log);
    }

    /**
     * As {@link #convert(Path, Path, Path, int, long, int, Mha2MlaConverter.Options, Path, DType, PrintStream)} with the
     * calibration passes over {@code samples} samples opened by {@code passes} (e.g. spread over Spark executors, which
     * draw and process their share of the samples themselves with {@link #calibrationDraw}).
     */
    public static Converted convert(Path input, int samples, CalibrationPasses.Opener passes, Mha2MlaConverter.Options options,
                                    Path out, DType dtype) {
        return convert(input, samples, passes, options, out, dtype, System.nanoTime());
    }

    private static Converted convert(Path input, int samples, CalibrationPasses.Opener passes, Mha2MlaConverter.Options options,
                                     Path out, DType dtype, long t0) {
        try (VisionLanguageModel model = VlmLoader.load(input)) {
            long t1 = System.nanoTime();
            String where = input.toString();
            String why = "the conversion needs finite weights";
            try (Conversion c = Mha2MlaConverter.stream(model, samples, options, passes,
                    name -> FiniteWeights.require(model.weights(), name, where, why))) {
                long t2 = System.nanoTime();
                List<SafeTensorsWriter.Entry> entries = new ArrayList<>();
                for (String name : c.names()) {
                    entries.add(c.converted(name) ? new SafeTensorsWriter.Entry(name, dtype, c.shape(name), () -> c.tensor(name))
                            : StoredCopy.entry(model.weights(), name, dtype, where, why));
                }
                writeFolder(entries, input, out);
                Mha2MlaConfig target = c.finish();
                writeConfig(input, out, target);
                TransformersExport.write(out);
                ConversionReport report = c.report();
                report.write(out.resolve("conversion_report.json"));
                double total = (System.nanoTime() - t0) / 1e9;
                Map<String, Double> phases = new java.util.LinkedHashMap<>();
                phases.put("opening the model and the calibration data", (t1 - t0) / 1e9);
                phases.put("processing and embedding the samples (vision tower)", (t2 - t1) / 1e9);
                double inPhases = 0;
                for (Conversion.Phase p : Conversion.Phase.values()) {
                    phases.put(p.name().toLowerCase(java.util.Locale.ROOT).replace('_', ' '), c.seconds(p));
                    inPhases += c.seconds(p);
                }
                phases.put("reading and writing tensors", (System.nanoTime() - t2) / 1e9 - inPhases);
                return new Converted(report, phases, total, c.layerPasses());
            }
        }
    }

    /**
     * What {@link #convert} did: the report, seconds per phase (in order), the total, and the calibration layer passes
     * per sample and layer.
     */
    public record Converted(ConversionReport report, Map<String, Double> phaseSeconds, double seconds, int layerPasses) {
    }

    /**
     * Calibration samples cut to {@code min(maxLength, max_position_embeddings)} tokens as they are read (the list stays
     * lazy: one sample in memory at a time); a sample whose image tokens reach past the cap is refused (a partial image
     * cannot be fed); each cut is said in one line.
     */
    static List<MultimodalInput> capCalibration(List<MultimodalInput> samples, Path file, int maxLength, VlmConfig config, PrintStream log) {
        TextConfig text = config.textConfig();
        int cap = Math.min(maxLength, text.maxPositionEmbeddings());
        return new java.util.AbstractList<>() {
            @Override
            public MultimodalInput get(int i) {
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
                    log.println("calibration: sample " + i + " has " + ids.length + " tokens, cut to " + cap + " (--max-length " + maxLength
                            + ", max_position_embeddings " + text.maxPositionEmbeddings() + ")");
                    in = new MultimodalInput(Arrays.copyOf(ids, cap), in.pixelValues(), in.imageSizes(), in.imageGridThw());
                }
                String what = file + ": calibration sample " + i;
                Limits.requireAttentionMask(what, 1, in.length(), in.length());
                Limits.requireAttentionMemory(what, 1, text.numAttentionHeads(), in.length());
                return in;
            }

            @Override
            public int size() {
                return samples.size();
            }
        };
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
        write(model.weights(), Map.of(), input, out, dtype);
        writeConfig(input, out, conversion);
    }

    /** The input's config.json with the {@code "mha2mla"} section of {@code conversion}, written into {@code out}. */
    private static void writeConfig(Path input, Path out, Mha2MlaConfig conversion) {
        Path config = out.resolve("config.json");
        try {
            String json = Files.readString(input.resolve("config.json"));
            Files.writeString(config, HfConfigParser.withConversion(json, conversion, input.resolve("config.json").toString()));
        } catch (IOException e) {
            throw new UncheckedIOException(config + ": cannot write the converted config (" + e + ")", e);
        }
        TransformersExport.write(out);
    }

    /**
     * Writes every tensor of {@code weights} (or its replacement in {@code trained}, same key) and the input's side
     * files to {@code out}; tensors are read one at a time.
     */
    public static void write(TensorSource weights, Map<String, INDArray> trained, Path input, Path out, DType dtype) {
        List<SafeTensorsWriter.Entry> entries = new ArrayList<>();
        for (String n : weights.names()) {
            INDArray a = trained.get(n);
            if (a != null) entries.add(new SafeTensorsWriter.Entry(n, dtype, a.shape(), () -> a));
            else if (weights.info(n).dtype().isFloating()) entries.add(StoredCopy.entry(weights, n, dtype));
            else entries.add(new SafeTensorsWriter.Entry(n, weights.info(n).dtype(), weights.info(n).shape(), () -> weights.get(n)));
        }
        writeFolder(entries, input, out);
    }

    /** Writes {@code entries} as (sharded) safetensors and the input's side files into {@code out}. */
    private static void writeFolder(List<SafeTensorsWriter.Entry> entries, Path input, Path out) {
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
        if (Files.exists(out.resolve("config.json")) && TransformersExport.isConverted(out)) TransformersExport.write(out);
    }
}
