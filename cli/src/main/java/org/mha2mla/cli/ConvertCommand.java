package org.mha2mla.cli;

import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

import org.mha2mla.Mha2Mla;
import org.mha2mla.core.Limits;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.partialrope.RopeStrategy;
import org.mha2mla.core.svd.FactorSplit;
import org.mha2mla.core.svd.SvdMethod;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.layers.mla.ConversionReport;
import org.mha2mla.layers.mla.Mha2MlaConverter;
import org.mha2mla.trainer.ModelFolder;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "convert", mixinStandardHelpOptions = true,
        description = "Convert an MHA/GQA model folder to partial RoPE and/or MLA (MHA2MLA-VLM); prints the per-layer report.")
final class ConvertCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "Input Hugging Face model folder (original, or partial-RoPE for --step svd).")
    Path model;

    @Option(names = "--out", required = true, description = "Output folder for the converted model and conversion_report.json.")
    Path out;

    @Option(names = "--d-kv", defaultValue = "0", description = "Latent dims per KV head (latent = n_kv·d_kv); required unless --step rope.")
    int dKv;

    @Option(names = "--rope-dim", defaultValue = "0", description = "Rotated dims d_r per KV head (default d_h/4).")
    int ropeDim;

    @Option(names = "--strategy", defaultValue = "mkl", description = "Partial-RoPE pair selection: mkl, 2norm, high, low, uniform (default ${DEFAULT-VALUE}).")
    String strategy;

    @Option(names = "--svd", defaultValue = "md", description = "Factorisation: md (MD-SVD, per modality), svd-llm (activation-aware, all tokens), "
            + "svd-joint (plain weight SVD, the authors' svd_init_method: joint) (default ${DEFAULT-VALUE}).")
    String svd;

    @Option(names = "--factor-split", defaultValue = "authors", description = "Scale of the factors: authors (S = XᵀX/(tokens·samples), "
            + "weight SVD W_up = UΣ, as the MHA2MLA-VLM code) or balanced (S = XᵀX/tokens, Σ^½ on each side) (default ${DEFAULT-VALUE}).")
    String factorSplit;

    @Option(names = "--step", defaultValue = "all", description = "rope (partial RoPE only), svd (factorise a partial-RoPE model), all (default ${DEFAULT-VALUE}).")
    String step;

    @Option(names = "--calib", description = "Calibration data: LLaVA-instruct JSON (image paths + conversations).")
    Path calib;

    @Option(names = "--image-root", description = "Folder the calibration image paths are relative to (default: the JSON's folder).")
    Path imageRoot;

    @Option(names = "--calib-samples", defaultValue = "512", description = "Calibration records to use, drawn after a seeded shuffle "
            + "(default ${DEFAULT-VALUE}, the authors'; all when the file has fewer).")
    int calibSamples;

    @Option(names = "--calib-seed", defaultValue = "42", description = "Seed of the calibration shuffle (default ${DEFAULT-VALUE}, the authors').")
    long calibSeed;

    @Option(names = "--max-query-rows", defaultValue = "256", description = "Query positions per sample the MKL/KL terms average over; 0 = all (default ${DEFAULT-VALUE}).")
    int maxQueryRows;

    @Option(names = "--eps", defaultValue = "1e-6", description = "Covariance ridge eps·mean(diag S) of the activation-aware SVD (default ${DEFAULT-VALUE}).")
    double eps;

    @Option(names = "--dtype", description = "Storage of the written weights: f32, bf16, f16 (default: the input's; f32 keeps the converted factors exact).")
    String dtype;

    @Option(names = "--ablations", description = "Also compute the factorisations --svd does not ask for, for the report's split/joint losses (Theorem 2.1).")
    boolean ablations;

    @Option(names = "--max-length", defaultValue = "" + ModelFolder.DEFAULT_CALIBRATION_LENGTH,
            description = "Tokens per calibration sample; longer samples are cut (and said so), or refused when the cut would split an image "
                    + "(default ${DEFAULT-VALUE}, at most the model's max_position_embeddings).")
    int maxLength;

    @Option(names = "--overwrite", description = "Replace --out even if it is a non-empty folder convert did not write (it is kept until the new one is complete).")
    boolean overwrite;

    @Option(names = "--spark", arity = "0..1", fallbackValue = "", paramLabel = "MASTER",
            description = "Run the calibration passes on Apache Spark executors: local[N], spark://host:port, yarn; without MASTER the "
                    + "one spark-submit set, else local[cores]. The factorisation runs here; the model folder and --calib (with its "
                    + "images) must be at the same path on every machine.")
    String spark;

    @Option(names = "--partitions", defaultValue = "0",
            description = "With --spark: shares the calibration samples are cut into, each held by one executor task across the "
                    + "layers (0 = one per executor core).")
    int partitions;

    @Option(names = "--progress", negatable = true, defaultValue = "true", fallbackValue = "true", description = "Show progress bars (default on).")
    boolean progress;

    @Override
    public Integer call() {
        Mha2MlaConfig.Step s = Mha2MlaConfig.Step.parse(step);
        if (s.producesMla() && dKv <= 0) throw new IllegalArgumentException("--d-kv N is required for --step " + s.id());
        Limits.requireAtLeast("--rope-dim", ropeDim, 0);
        Limits.requireAtLeast("--calib-samples", calibSamples, 1);
        Limits.requireAtLeast("--max-query-rows", maxQueryRows, 0);
        Limits.requireAtLeast("--max-length", maxLength, 2);
        Limits.requirePositive("--eps", eps);
        ModelWarnings.print(model);
        DType storage = dtype == null ? ModelFolder.inputDtype(model) : switch (dtype.toLowerCase(Locale.ROOT)) {
            case "f32", "float32" -> DType.F32;
            case "bf16", "bfloat16" -> DType.BF16;
            case "f16", "float16" -> DType.F16;
            default -> throw new IllegalArgumentException("--dtype '" + dtype + "': expected f32, bf16 or f16");
        };
        Mha2MlaConverter.Options options = Mha2MlaConverter.Options.builder(dKv).step(s).strategy(RopeStrategy.parse(strategy))
                .ropeDim(ropeDim).svd(SvdMethod.parse(svd)).split(FactorSplit.parse(factorSplit)).maxQueryRows(maxQueryRows).eps(eps)
                .ablations(ablations).progress(progress).spillDir(out.toAbsolutePath().getParent()).build();
        Mha2Mla.ConvertOptions.Builder request = Mha2Mla.ConvertOptions.builder(model, out, options).calibration(calib).imageRoot(imageRoot)
                .samples(calibSamples).seed(calibSeed).maxLength(maxLength).dtype(storage).overwrite(overwrite);
        Mha2Mla.Conversion conversion;
        if (spark == null) {
            conversion = Mha2Mla.convert(request.build());
        } else {
            if (calib == null) throw new IllegalArgumentException("--spark spreads the calibration samples: give --calib");
            try (SparkBackend.Session session = SparkBackend.load().start(spark, partitions, "mha2mla convert " + model.getFileName())) {
                System.err.println("calibration on Spark: " + session.describe());
                SparkBackend.Calibration c = session.calibration(model, calib, imageRoot, calibSamples, calibSeed, maxLength, options);
                conversion = Mha2Mla.convert(request.calibrationPasses(c.samples(), c.passes()).build());
            }
        }
        Path written = conversion.dir();
        ModelFolder.Converted converted = conversion.converted();
        ConversionReport report = converted.report();
        System.out.print(report.table());
        StringBuilder phases = new StringBuilder();
        converted.phaseSeconds().forEach((phase, sec) -> phases.append(phases.length() == 0 ? "" : ", ")
                .append(String.format(Locale.ROOT, "%s %.1f s", phase, sec)));
        System.out.printf(Locale.ROOT, "%.1f s: %s; %d calibration layer pass%s per sample and layer%n", converted.seconds(), phases,
                converted.layerPasses(), converted.layerPasses() == 1 ? "" : "es");
        System.out.println("wrote " + written + " (" + storage + ") and " + written.resolve("conversion_report.json"));
        return 0;
    }
}
