package org.mha2mla.layers.mla;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.partialrope.RopeStrategy;
import org.mha2mla.core.svd.FactorSplit;
import org.mha2mla.core.svd.MdSvd;
import org.mha2mla.core.svd.SvdMethod;
import org.mha2mla.importers.weights.ArraySource;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * MHA/GQA → MLA conversion of a model (MHA2MLA-VLM), in the paper's order:
 * <ol>
 *   <li><b>rope</b>: choose the kept RoPE pairs of every (layer, KV head) — high, low, uniform, head-wise 2-norm or MKL
 *       scores from the calibration samples — giving a partial-RoPE model with the original weights;</li>
 *   <li><b>svd</b>: factorise [W_k,nope; W_v] of every layer at rank n_kv·d_kv from the per-modality statistics of the
 *       k/v input over the calibration tokens (MD-SVD, or the SVD-LLM / SVD_joint baselines), giving an MLA model;</li>
 *   <li><b>all</b>: both in one go, calibrated as the two steps apart are: pair scores on the original model's
 *       activations, the factorisation on the partial-RoPE model's.</li>
 * </ol>
 * The work runs layer by layer ({@link Conversion}): {@link #stream} hands out the converted tensors one at a time for
 * a writer (a 7B model converts in the memory of one layer), {@link #convert} collects them into a model in memory.
 */
public final class Mha2MlaConverter {

    /** How to convert; {@link #defaults} then the named setters of a {@link Builder}. */
    public static final class Options {
        private final Mha2MlaConfig.Step step;
        private final RopeStrategy strategy;
        private final int ropeDim;
        private final int dKv;
        private final SvdMethod svd;
        private final int maxQueryRows;
        private final double eps;
        private final FactorSplit split;
        private final boolean ablations;
        private final boolean progress;
        private final long activationBudgetBytes;
        private final Path spillDir;

        private Options(Builder b) {
            if (b.step == null || b.strategy == null || b.svd == null || b.split == null) {
                throw new IllegalArgumentException("step, strategy, svd and split are required");
            }
            if (b.ropeDim < 0 || b.maxQueryRows < 0 || !(b.eps >= 0) || b.activationBudgetBytes < 0) {
                throw new IllegalArgumentException("d_r " + b.ropeDim + ", max query rows " + b.maxQueryRows + ", eps " + b.eps
                        + " and the activation budget " + b.activationBudgetBytes + " must be >= 0");
            }
            this.step = b.step;
            this.strategy = b.strategy;
            this.ropeDim = b.ropeDim;
            this.dKv = b.dKv;
            this.svd = b.svd;
            this.maxQueryRows = b.maxQueryRows;
            this.eps = b.eps;
            this.split = b.split;
            this.ablations = b.ablations;
            this.progress = b.progress;
            this.activationBudgetBytes = b.activationBudgetBytes;
            this.spillDir = b.spillDir;
        }

        /** MKL, d_r = d_h/4, MD-SVD at {@code dKv} split as the authors', both steps, 256 KL query rows, eps 1e-6, no ablations, no progress bar. */
        public static Options defaults(int dKv) {
            return builder(dKv).build();
        }

        public static Builder builder(int dKv) {
            return new Builder(dKv);
        }

        public Builder toBuilder() {
            Builder b = new Builder(dKv);
            b.step = step;
            b.strategy = strategy;
            b.ropeDim = ropeDim;
            b.svd = svd;
            b.maxQueryRows = maxQueryRows;
            b.eps = eps;
            b.split = split;
            b.ablations = ablations;
            b.progress = progress;
            b.activationBudgetBytes = activationBudgetBytes;
            b.spillDir = spillDir;
            return b;
        }

        public Options with(Mha2MlaConfig.Step s) {
            return toBuilder().step(s).build();
        }

        public Options with(RopeStrategy s) {
            return toBuilder().strategy(s).build();
        }

        public Options with(SvdMethod s) {
            return toBuilder().svd(s).build();
        }

        public Options withRopeDim(int d) {
            return toBuilder().ropeDim(d).build();
        }

        public Options withProgress(boolean p) {
            return toBuilder().progress(p).build();
        }

        public Mha2MlaConfig.Step step() {
            return step;
        }

        public RopeStrategy strategy() {
            return strategy;
        }

        /** d_r per KV head; 0 for the default d_h/4. */
        public int ropeDim() {
            return ropeDim;
        }

        /** Latent dims per KV head (rank n_kv·d_kv); ignored for step rope. */
        public int dKv() {
            return dKv;
        }

        public SvdMethod svd() {
            return svd;
        }

        /** Query positions per sample that the KL terms average over (0: all). */
        public int maxQueryRows() {
            return maxQueryRows;
        }

        /** Covariance ridge eps·mean(diag S) of activation-aware SVD. */
        public double eps() {
            return eps;
        }

        /** How the factors share the singular values ({@link FactorSplit}; the authors' by default). */
        public FactorSplit split() {
            return split;
        }

        public Options with(FactorSplit s) {
            return toBuilder().split(s).build();
        }

        /** Also compute the factorisations not chosen, for the report's split/joint losses (Theorem 2.1 figures). */
        public boolean ablations() {
            return ablations;
        }

        public boolean progress() {
            return progress;
        }

        /** The most the calibration samples' activations may take in memory per stream; beyond it they go to disk. */
        public long activationBudgetBytes() {
            return activationBudgetBytes;
        }

        /** Where activations beyond the budget go. */
        public Path spillDir() {
            return spillDir;
        }

        /** Named setters with the defaults of {@link #defaults}. */
        public static final class Builder {
            private Mha2MlaConfig.Step step = Mha2MlaConfig.Step.ALL;
            private RopeStrategy strategy = RopeStrategy.MKL;
            private int ropeDim;
            private final int dKv;
            private SvdMethod svd = SvdMethod.MD;
            private int maxQueryRows = 256;
            private double eps = MdSvd.DEFAULT_EPS;
            private FactorSplit split = FactorSplit.AUTHORS;
            private boolean ablations;
            private boolean progress;
            private long activationBudgetBytes = 2L << 30;
            private Path spillDir = Path.of(System.getProperty("java.io.tmpdir"));

            private Builder(int dKv) {
                this.dKv = dKv;
            }

            public Builder step(Mha2MlaConfig.Step v) { step = v; return this; }
            public Builder strategy(RopeStrategy v) { strategy = v; return this; }
            public Builder ropeDim(int v) { ropeDim = v; return this; }
            public Builder svd(SvdMethod v) { svd = v; return this; }
            public Builder maxQueryRows(int v) { maxQueryRows = v; return this; }
            public Builder eps(double v) { eps = v; return this; }
            public Builder split(FactorSplit v) { split = v; return this; }
            public Builder ablations(boolean v) { ablations = v; return this; }
            public Builder progress(boolean v) { progress = v; return this; }
            public Builder activationBudgetBytes(long v) { activationBudgetBytes = v; return this; }
            public Builder spillDir(Path v) { spillDir = v; return this; }

            public Options build() {
                return new Options(this);
            }
        }
    }

    /** The converted model (same architecture, its weights in memory), its config section and the per-layer report. */
    public record Result(VisionLanguageModel model, Mha2MlaConfig conversion, ConversionReport report) {
    }

    private Mha2MlaConverter() {
    }

    /**
     * Converts {@code input} layer by layer; the caller pulls the converted tensors in {@link Conversion#names()} order
     * (e.g. writing them to shards), then calls {@link Conversion#finish()}, and closes it.
     */
    public static Conversion stream(VisionLanguageModel input, List<MultimodalInput> calibration, Options o) {
        return stream(input, calibration, o, name -> { });
    }

    /**
     * {@link #stream(VisionLanguageModel, List, Options)} with {@code weightCheck} seeing the key of every input weight
     * the calibration reads before it reads it (the embedding and vision tower first, then each layer's attention).
     */
    public static Conversion stream(VisionLanguageModel input, List<MultimodalInput> calibration, Options o,
                                    java.util.function.Consumer<String> weightCheck) {
        return stream(input, calibration.size(), o, (model, onSample) -> localPasses(model, calibration, o, onSample), weightCheck);
    }

    /**
     * As {@link #stream(VisionLanguageModel, List, Options, java.util.function.Consumer)} over {@code samples}
     * calibration samples whose passes {@code passes} opens (e.g. spread over machines, each holding some samples and
     * its own copy of the model; {@code weightCheck} sees the weights this machine reads).
     */
    public static Conversion stream(VisionLanguageModel input, int samples, Options o, CalibrationPasses.Opener passes,
                                    java.util.function.Consumer<String> weightCheck) {
        Conversion.validate(input, samples, o);
        long steps = (long) input.config().textConfig().numHiddenLayers() * samples * Conversion.passes(o.step());
        ProgressBar bar = o.progress() && steps > 0 ? new ProgressBarBuilder().setTaskName("convert").setInitialMax(steps)
                .setUpdateIntervalMillis(500).continuousUpdate().build() : null;
        try {
            for (String name : input.weights().names()) {
                if (!name.startsWith(input.decoderPrefix() + "layers.") && !name.equals(input.lmHeadKey())) weightCheck.accept(name);
            }
            return new Conversion(input, passes.open(input, bar == null ? () -> { } : bar::step), o, bar).checkingWeights(weightCheck);
        } catch (RuntimeException e) {
            if (bar != null) bar.close();
            throw e;
        }
    }

    /** The calibration passes of a conversion of {@code input} by {@code o} over {@code calibration}, on this machine. */
    public static LocalCalibration localPasses(VisionLanguageModel input, List<MultimodalInput> calibration, Options o, Runnable onSample) {
        return new LocalCalibration(input, calibration, o, onSample);
    }

    /** Converts {@code input} into a model held in memory (every tensor float32): small models and tests. */
    public static Result convert(VisionLanguageModel input, List<MultimodalInput> calibration, Options o) {
        try (Conversion c = stream(input, calibration, o)) {
            Map<String, INDArray> tensors = new LinkedHashMap<>();
            for (String name : c.names()) tensors.put(name, c.converted(name) ? c.tensor(name) : c.tensor(name).dup());
            Mha2MlaConfig target = c.finish();
            VisionLanguageModel model = input.with(target, new ArraySource(tensors, "converted " + input.weights().description()));
            return new Result(model, target, c.report());
        }
    }
}
