package org.mha2mla;

import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Stream;

import org.mha2mla.core.Limits;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.evaluation.run.EvalOptions;
import org.mha2mla.evaluation.run.Evaluator;
import org.mha2mla.evaluation.run.ProcessorEncoder;
import org.mha2mla.evaluation.run.RequestEncoder;
import org.mha2mla.evaluation.run.TaskResult;
import org.mha2mla.importers.OutputFolder;
import org.mha2mla.importers.image.RgbImage;
import org.mha2mla.importers.processor.ProcessedPrompt;
import org.mha2mla.importers.processor.VlmProcessor;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.generation.CachePolicy;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.mla.CalibrationPasses;
import org.mha2mla.layers.mla.Mha2MlaConverter;
import org.mha2mla.trainer.ModelFolder;
import org.mha2mla.trainer.TrainOptions;
import org.mha2mla.trainer.Trainer;
import org.mha2mla.trainer.data.ChatExampleEncoder;
import org.mha2mla.trainer.data.InstructCalibration;
import org.mha2mla.trainer.data.ModelProcessor;

/**
 * The library's entry point for Java callers, and what the {@code mha2mla} command line runs: open a Hugging Face
 * folder and generate, convert a folder to partial RoPE / MLA, train one PEFT stage, evaluate on the benchmarks.
 * Each operation takes a named-builder options object with the command line's defaults:
 * <pre>
 *   Mha2Mla.convert(Mha2Mla.ConvertOptions.builder(modelDir, outDir, Mha2MlaConverter.Options.builder(8).build())
 *           .calibration(calibJson).build());
 *   try (Mha2Mla.Model m = Mha2Mla.load(outDir)) {
 *       System.out.println(m.generate(Mha2Mla.GenerateOptions.builder("Describe the image.").image(png).build()).text());
 *   }
 * </pre>
 * Folders written here follow the command line's rules: an output folder must be absent, empty or one the same
 * operation wrote, unless {@code overwrite}; it appears complete or not at all. Bad input is an
 * {@link IllegalArgumentException} (or a subclass) whose message names the file, tensor or option.
 */
public final class Mha2Mla {

    private Mha2Mla() {
    }

    // ---- load and generate ----

    /**
     * Opens a Hugging Face folder (config.json, safetensors, tokenizer and processor files), original or converted by this
     * project, of a registered {@code model_type} ({@code FamilySpecs.modelTypes()}). Weights are mapped, not read; close
     * the model after use.
     */
    public static Model load(Path dir) {
        VlmProcessor processor = VlmProcessor.load(dir);
        try {
            return new Model(dir, VlmLoader.load(dir), processor);
        } catch (RuntimeException e) {
            processor.close();
            throw e;
        }
    }

    /** A loaded folder: the model and its processor. */
    public static final class Model implements AutoCloseable {
        private final Path dir;
        private final VisionLanguageModel model;
        private final VlmProcessor processor;

        private Model(Path dir, VisionLanguageModel model, VlmProcessor processor) {
            this.dir = dir;
            this.model = model;
            this.processor = processor;
        }

        public Path dir() {
            return dir;
        }

        /** The parsed config.json. */
        public VlmConfig config() {
            return model.config();
        }

        /** The model (SameDiff passes, decoding with a KV cache, its weights). */
        public VisionLanguageModel model() {
            return model;
        }

        /** The folder's processor (tokenizer, chat template, image processor). */
        public VlmProcessor processor() {
            return processor;
        }

        /**
         * Greedy generation with the KV cache ({@code mha2mla generate}): the prompt through the chat template (unless
         * raw) and the processor, then at most {@code maxNewTokens} tokens, stopping at an end-of-sequence token.
         */
        public Generation generate(GenerateOptions o) {
            int positions = config().textConfig().maxPositionEmbeddings();
            Limits.requireBetween("--max-new-tokens", o.maxNewTokens(), 1, positions - 1L);
            List<RgbImage> images = o.image() == null ? List.of() : List.of(RgbImage.load(o.image()));
            String text = o.raw() ? o.prompt() : processor.userPrompt(o.prompt(), images.size());
            ProcessedPrompt input = processor.process(text, images);
            Limits.requireGeneration("--max-new-tokens", input.length(), o.maxNewTokens(), positions);
            Limits.requireAttentionMask("the prompt", 1, input.length(), input.length());
            MultimodalInput in = MultimodalInput.of(input);
            long start = System.nanoTime();
            DecoderInput prompt = model.decoderInput(in);
            double embedSeconds = (System.nanoTime() - start) / 1e9;
            Set<Integer> eos = new HashSet<>(config().textConfig().eosTokenIds());
            org.mha2mla.layers.generation.Generation g = model.generator(in, CachePolicy.FULL)
                    .run(prompt, o.maxNewTokens(), eos, true, ids -> false);
            double seconds = (System.nanoTime() - start) / 1e9;
            long[] ids = g.tokens();
            return new Generation(processor.tokenizer().decode(ids, true), ids, input.length(), seconds, embedSeconds,
                    g.prefillSeconds(), g.decodeSeconds());
        }

        @Override
        public void close() {
            try (processor) {
                model.close();
            }
        }
    }

    /**
     * What {@link Model#generate} produced.
     *
     * @param text         the new tokens decoded, special tokens skipped
     * @param ids          the new token ids
     * @param promptTokens the prompt's length in tokens (image tokens included)
     * @param seconds      wall time of the whole generation
     * @param embedSeconds the prompt's embedding, with the vision tower when there is an image
     * @param prefillSeconds the prompt through every layer into the cache
     * @param decodeSeconds the decode steps after the prefill's token
     */
    public record Generation(String text, long[] ids, int promptTokens, double seconds, double embedSeconds,
                             double prefillSeconds, double decodeSeconds) {

        /** Decode steps per second (NaN when only the prefill's token was generated). */
        public double decodeTokensPerSecond() {
            return ids.length > 1 ? (ids.length - 1) / decodeSeconds : Double.NaN;
        }
    }

    /**
     * Options of {@link Model#generate}.
     *
     * @param prompt       the user message, or with {@code raw} the whole prompt text
     * @param image        an image file to ask about, or null
     * @param maxNewTokens most tokens to generate
     * @param raw          use the prompt as is (it must then hold the model's image placeholder when an image is given)
     */
    public record GenerateOptions(String prompt, Path image, int maxNewTokens, boolean raw) {

        /** Options for {@code prompt}: no image, 64 new tokens, through the chat template. */
        public static Builder builder(String prompt) {
            return new Builder(prompt);
        }

        public static final class Builder {
            private final String prompt;
            private Path image;
            private int maxNewTokens = 64;
            private boolean raw;

            private Builder(String prompt) {
                this.prompt = prompt;
            }

            public Builder image(Path image) {
                this.image = image;
                return this;
            }

            public Builder maxNewTokens(int maxNewTokens) {
                this.maxNewTokens = maxNewTokens;
                return this;
            }

            public Builder raw(boolean raw) {
                this.raw = raw;
                return this;
            }

            public GenerateOptions build() {
                if (prompt == null) throw new IllegalArgumentException("--prompt is required");
                return new GenerateOptions(prompt, image, maxNewTokens, raw);
            }
        }
    }

    // ---- convert ----

    /**
     * Converts a folder ({@code mha2mla convert}): partial RoPE and/or MLA as {@link ConvertOptions#converter()} says,
     * calibrated on LLaVA-instruct data through the folder's own processor, streamed layer by layer into the output
     * folder with {@code conversion_report.json}; the result loads with {@link #load} and with transformers.
     */
    public static Conversion convert(ConvertOptions o) {
        OutputFolder folder = OutputFolder.of("convert", o.out()).input("--model", o.model()).input("--calib", o.calibration())
                .input("--image-root", o.imageRoot()).overwrite(o.overwrite())
                .earlierOutput(dir -> Files.isRegularFile(dir.resolve("conversion_report.json"))).open();
        DType dtype = o.dtype() != null ? o.dtype() : ModelFolder.inputDtype(o.model());
        ModelFolder.Converted converted;
        try {
            converted = o.passes() == null
                    ? ModelFolder.convert(o.model(), o.calibration(), o.imageRoot(), o.samples(), o.seed(), o.maxLength(), o.converter(),
                            folder.dir(), dtype, o.log())
                    : ModelFolder.convert(o.model(), o.passSamples(), o.passes(), o.converter(), folder.dir(), dtype);
        } catch (RuntimeException e) {
            folder.discard();
            throw e;
        }
        return new Conversion(folder.commit(), dtype, converted);
    }

    /**
     * What {@link #convert} wrote.
     *
     * @param dir       the converted folder
     * @param dtype     the storage dtype of its weights
     * @param converted the conversion report (per layer: kept RoPE pairs, ranks, losses) and the time of each phase
     */
    public record Conversion(Path dir, DType dtype, ModelFolder.Converted converted) {
    }

    /**
     * Options of {@link #convert}.
     *
     * @param model       the input folder (original, or partial-RoPE for {@code Step.SVD})
     * @param out         the output folder
     * @param converter   what to convert to (step, d_kv, RoPE strategy, SVD variant, factor split …)
     * @param calibration LLaVA-instruct JSON (image paths + conversations), or null for no calibration
     * @param imageRoot   the folder the calibration image paths are relative to (null: the JSON's folder)
     * @param samples     calibration records, drawn after a shuffle by {@code seed}
     * @param seed        seed of the calibration shuffle
     * @param maxLength   tokens per calibration sample (longer ones are cut, or refused when the cut would split an image)
     * @param dtype       storage of the written weights (null: the input's)
     * @param overwrite   replace a non-empty output folder that convert did not write
     * @param log         where the calibration draw reports cut samples
     * @param passSamples with {@code passes}: the calibration samples the passes run over
     * @param passes      calibration passes run elsewhere (e.g. on Spark executors), or null to run them here
     */
    public record ConvertOptions(Path model, Path out, Mha2MlaConverter.Options converter, Path calibration, Path imageRoot,
                                 int samples, long seed, int maxLength, DType dtype, boolean overwrite, PrintStream log,
                                 int passSamples, CalibrationPasses.Opener passes) {

        /** Options with the command line's defaults: 512 samples, seed 42, 2048 tokens, the input's dtype. */
        public static Builder builder(Path model, Path out, Mha2MlaConverter.Options converter) {
            return new Builder(model, out, converter);
        }

        public static final class Builder {
            private final Path model;
            private final Path out;
            private final Mha2MlaConverter.Options converter;
            private Path calibration;
            private Path imageRoot;
            private int samples = 512;
            private long seed = InstructCalibration.DEFAULT_SEED;
            private int maxLength = ModelFolder.DEFAULT_CALIBRATION_LENGTH;
            private DType dtype;
            private boolean overwrite;
            private PrintStream log = System.out;
            private int passSamples;
            private CalibrationPasses.Opener passes;

            private Builder(Path model, Path out, Mha2MlaConverter.Options converter) {
                this.model = model;
                this.out = out;
                this.converter = converter;
            }

            public Builder calibration(Path calibration) {
                this.calibration = calibration;
                return this;
            }

            public Builder imageRoot(Path imageRoot) {
                this.imageRoot = imageRoot;
                return this;
            }

            public Builder samples(int samples) {
                this.samples = samples;
                return this;
            }

            public Builder seed(long seed) {
                this.seed = seed;
                return this;
            }

            public Builder maxLength(int maxLength) {
                this.maxLength = maxLength;
                return this;
            }

            public Builder dtype(DType dtype) {
                this.dtype = dtype;
                return this;
            }

            public Builder overwrite(boolean overwrite) {
                this.overwrite = overwrite;
                return this;
            }

            public Builder log(PrintStream log) {
                this.log = log;
                return this;
            }

            /** Calibration passes over {@code samples} samples opened by {@code passes} instead of here (Spark executors). */
            public Builder calibrationPasses(int samples, CalibrationPasses.Opener passes) {
                this.passSamples = samples;
                this.passes = passes;
                return this;
            }

            public ConvertOptions build() {
                if (converter == null) throw new IllegalArgumentException("convert: the converter options are required");
                Limits.requireAtLeast("--calib-samples", samples, 1);
                Limits.requireAtLeast("--max-length", maxLength, 2);
                return new ConvertOptions(model, out, converter, calibration, imageRoot, samples, seed, maxLength, dtype, overwrite,
                        log, passSamples, passes);
            }
        }
    }

    // ---- train ----

    /**
     * One PEFT stage ({@code mha2mla train}): stage 1 trains the query/key projections of a partial-RoPE folder, stage 2
     * the MLA parameters of a converted one, on LLaVA-instruct data through the folder's own processor; checkpoints,
     * {@code loss.csv}, {@code loss_curve.png} and the trained folder under {@link TrainOptions#out()}.
     */
    public static Trainer.Result train(TrainOptions options) {
        try (ModelProcessor processor = ModelProcessor.load(options.model())) {
            return Trainer.run(options, new ChatExampleEncoder(processor));
        }
    }

    // ---- evaluate ----

    /** {@link #evaluate(List, EvalOptions, boolean, Evaluator.DocGenerator)} here, continuing only eval's own folder. */
    public static Evaluation evaluate(List<String> tasks, EvalOptions options) {
        return evaluate(tasks, options, false, null);
    }

    /**
     * Evaluates {@link EvalOptions#model()} on {@code tasks} ({@code mha2mla eval}): greedy generation scored as lmms-eval
     * does, into {@link EvalOptions#out()} ({@code results.json}, {@code results.md}, resumable {@code predictions/}).
     * {@code overwrite} replaces a non-empty folder eval did not write; {@code generator} runs the generation elsewhere
     * (e.g. Spark executors), or null for here.
     */
    public static Evaluation evaluate(List<String> tasks, EvalOptions options, boolean overwrite, Evaluator.DocGenerator generator) {
        OutputFolder folder = OutputFolder.of("eval", options.out()).input("--model", options.model()).input("--data-root", options.dataRoot())
                .resumable(true).overwrite(overwrite).earlierOutput(Mha2Mla::earlierEvalOutput).open();
        EvalOptions here = EvalOptions.builder(options.model(), options.dataRoot(), folder.dir()).family(options.family())
                .limit(options.limit()).maxNewTokens(options.maxNewTokens()).policy(options.policy()).progress(options.progress()).build();
        List<TaskResult> results;
        try (VisionLanguageModel vlm = VlmLoader.load(options.model()); RequestEncoder encoder = ProcessorEncoder.load(options.model())) {
            Evaluator evaluator = new Evaluator(vlm, encoder, here);
            results = generator == null ? evaluator.run(tasks) : evaluator.run(tasks, generator);
        }
        return new Evaluation(folder.commit(), results);
    }

    /**
     * What {@link #evaluate} wrote.
     *
     * @param dir     the results folder (results.json, results.md, predictions/, samples/)
     * @param results each task's scores
     */
    public record Evaluation(Path dir, List<TaskResult> results) {
    }

    /** A folder written by eval before folders carried a marker: only its result files and logs. */
    static boolean earlierEvalOutput(Path dir) {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString())
                    .allMatch(n -> Set.of("predictions", "samples", "results.json", "results.md").contains(n));
        } catch (java.io.IOException e) {
            return false;
        }
    }
}
