package org.mha2mla.layers.mla;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.mla.GqaLayerWeights;
import org.mha2mla.core.mla.LatentProjections;
import org.mha2mla.core.mla.MlaWeights;
import org.mha2mla.core.partialrope.PartialRope;
import org.mha2mla.core.partialrope.RopeSelection;
import org.mha2mla.core.partialrope.RopeStrategy;
import org.mha2mla.core.svd.CovarianceAccumulator;
import org.mha2mla.core.svd.FactorSplit;
import org.mha2mla.core.svd.LowRankFactors;
import org.mha2mla.core.svd.MdSvd;
import org.mha2mla.core.svd.ModalityCovariance;
import org.mha2mla.core.svd.ModalityFactors;
import org.mha2mla.core.svd.SvdLlm;
import org.mha2mla.core.svd.SvdMethod;
import org.mha2mla.core.svd.TruncationLoss;
import org.mha2mla.core.svd.WeightSvd;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.generation.KvCache;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.autodiff.samediff.VariableType;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * MHA/GQA → MLA conversion of a loaded model (MHA2MLA-VLM), in the paper's order:
 * <ol>
 *   <li><b>rope</b>: choose the kept RoPE pairs of every (layer, KV head) — high, low, uniform, head-wise 2-norm or MKL
 *       scores from the calibration samples — giving a partial-RoPE model with the original weights;</li>
 *   <li><b>svd</b>: factorise [W_k,nope; W_v] of every layer at rank n_kv·d_kv from the per-modality statistics of the
 *       k/v input over the calibration tokens (MD-SVD, or the SVD-LLM / SVD_joint baselines), giving an MLA model;</li>
 *   <li><b>all</b>: both in one go.</li>
 * </ol>
 * The converted model is the same architecture over a new weight graph: the attention tensors are new arrays
 * (partial RoPE: copies; MLA: {@link MlaWeights}), every other tensor (embeddings, MLP, norms, vision tower) is the
 * input's own array, shared. Calibration runs the input model on each sample once (twice for MKL and 2-norm: the KL
 * of the chosen selection needs the selection).
 */
public final class Mha2MlaConverter {

    /**
     * @param ropeDim      d_r per KV head; 0 for the default d_h/4
     * @param dKv          latent dims per KV head (rank n_kv·d_kv); ignored for step rope
     * @param maxQueryRows query positions per sample that KL terms average over (0: all)
     * @param eps          covariance ridge eps·mean(diag S) of activation-aware SVD
     * @param split        how the factors share the singular values ({@link FactorSplit}; the authors' by default)
     */
    public record Options(Mha2MlaConfig.Step step, RopeStrategy strategy, int ropeDim, int dKv, SvdMethod svd, int maxQueryRows,
                          double eps, boolean progress, FactorSplit split) {

        public Options {
            if (step == null || strategy == null || svd == null || split == null) {
                throw new IllegalArgumentException("step, strategy, svd and split are required");
            }
            if (ropeDim < 0 || maxQueryRows < 0 || !(eps >= 0)) {
                throw new IllegalArgumentException("d_r " + ropeDim + ", max query rows " + maxQueryRows + " and eps " + eps + " must be >= 0");
            }
        }

        /** MKL, d_r = d_h/4, MD-SVD, both steps, 256 query rows, eps 1e-6, no progress bar, the authors' factor scale. */
        public static Options defaults(int dKv) {
            return new Options(Mha2MlaConfig.Step.ALL, RopeStrategy.MKL, 0, dKv, SvdMethod.MD, 256, MdSvd.DEFAULT_EPS, false, FactorSplit.AUTHORS);
        }

        public Options with(FactorSplit s) {
            return new Options(step, strategy, ropeDim, dKv, svd, maxQueryRows, eps, progress, s);
        }

        public Options with(Mha2MlaConfig.Step s) {
            return new Options(s, strategy, ropeDim, dKv, svd, maxQueryRows, eps, progress, split);
        }

        public Options with(RopeStrategy s) {
            return new Options(step, s, ropeDim, dKv, svd, maxQueryRows, eps, progress, split);
        }

        public Options with(SvdMethod s) {
            return new Options(step, strategy, ropeDim, dKv, s, maxQueryRows, eps, progress, split);
        }

        public Options withRopeDim(int d) {
            return new Options(step, strategy, d, dKv, svd, maxQueryRows, eps, progress, split);
        }

        public Options withMaxQueryRows(int rows) {
            return new Options(step, strategy, ropeDim, dKv, svd, rows, eps, progress, split);
        }

        public Options withEps(double e) {
            return new Options(step, strategy, ropeDim, dKv, svd, maxQueryRows, e, progress, split);
        }

        public Options withProgress(boolean p) {
            return new Options(step, strategy, ropeDim, dKv, svd, maxQueryRows, eps, p, split);
        }
    }

    /** The converted model (same architecture, new weight graph), its config section and the per-layer report. */
    public record Result(VisionLanguageModel model, Mha2MlaConfig conversion, ConversionReport report) {
    }

    private Mha2MlaConverter() {
    }

    /**
     * Converts {@code input}. Step {@code all} is exactly step rope followed by step svd: the factorisation is
     * calibrated on the partial-RoPE model's activations, as it is when the two steps run apart (with stage-1
     * training between them).
     */
    public static Result convert(VisionLanguageModel input, List<MultimodalInput> calibration, Options o) {
        Mha2MlaConfig existing = input.conversion();
        if (o.step() == Mha2MlaConfig.Step.SVD) {
            if (existing == null || existing.isMla()) {
                throw new IllegalArgumentException("step svd factorises a partial-RoPE model (written by convert --step rope), but this model is "
                        + (existing == null ? "an original one: use --step all, or --step rope first" : "already MLA (" + existing + ")"));
            }
            return svdStep(input, calibration, o, Mha2MlaConfig.Step.SVD);
        }
        if (existing != null) {
            throw new IllegalArgumentException("step " + o.step().id() + " converts an original model, but this one is already converted ("
                    + existing + ")" + (existing.isMla() ? "" : ": use --step svd to continue it"));
        }
        if (o.step() == Mha2MlaConfig.Step.ALL) {
            TextConfig text = input.config().textConfig();
            checkRank(text, ropeDim(o, text), o.dKv());   // before any calibration pass
            if (calibration.isEmpty()) throw new IllegalArgumentException("the SVD step needs calibration samples, got none");
        }
        Result rope = ropeStep(input, calibration, o);
        if (o.step() == Mha2MlaConfig.Step.ROPE) return rope;
        Result mla = svdStep(rope.model(), calibration, o, Mha2MlaConfig.Step.ALL);
        List<ConversionReport.Layer> layers = new ArrayList<>();
        for (int l = 0; l < mla.report().layers().size(); l++) {
            ConversionReport.Layer f = mla.report().layers().get(l);
            layers.add(new ConversionReport.Layer(l, f.keptPairs(), rope.report().layers().get(l).attentionKl(), f.splitLoss(),
                    f.jointLoss(), f.chosenLoss(), f.kvEnergy()));
        }
        ConversionReport r = mla.report();
        return new Result(mla.model(), mla.conversion(), new ConversionReport(mla.conversion(), r.samples(), r.textTokens(), r.visualTokens(),
                layers, rope.report().originalCacheBytesPerToken(), r.convertedCacheBytesPerToken()));
    }

    private static int ropeDim(Options o, TextConfig text) {
        return o.ropeDim() > 0 ? o.ropeDim() : Math.max(2, text.headDim() / 4);
    }

    /** Step rope: choose the pairs (scoring on the calibration samples when the strategy needs it) and measure their KL. */
    private static Result ropeStep(VisionLanguageModel input, List<MultimodalInput> calibration, Options o) {
        ConvertibleModel m = ConvertibleModel.of(input);
        TextConfig text = m.decoder().config();
        int layers = text.numHiddenLayers();
        int dH = text.headDim();
        RopeStrategy strategy = o.strategy();
        int ropeDim = ropeDim(o, text);
        boolean scored = strategy.needsScores();
        if (calibration.isEmpty() && scored) {
            throw new IllegalArgumentException(strategy.id() + " scoring needs calibration samples, got none");
        }
        RopeSelection selection = scored ? null : PartialRope.select(strategy, layers, text.numKeyValueHeads(), dH, ropeDim, null);
        CalibrationStatistics kl = null;
        int passes = calibration.isEmpty() ? 0 : scored ? 2 : 1;
        try (ProgressBar bar = progress(o, "partial RoPE", (long) passes * calibration.size())) {
            CalibrationStatistics stats = new CalibrationStatistics(m, false, scored ? strategy : null, selection, o.maxQueryRows());
            run(stats, calibration, bar);
            kl = stats;
            if (scored) {
                selection = PartialRope.select(strategy, layers, text.numKeyValueHeads(), dH, ropeDim, stats.scores());
                kl = new CalibrationStatistics(m, false, null, selection, o.maxQueryRows());
                run(kl, calibration, bar);
            }
        }
        Mha2MlaConfig target = Mha2MlaConfig.partialRope(strategy, selection);
        List<ConversionReport.Layer> report = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            report.add(new ConversionReport.Layer(l, keptPairs(selection, l), kl.selectionKl(l), Double.NaN, Double.NaN, Double.NaN, Double.NaN));
        }
        VisionLanguageModel model = m.rebuild().apply(target, convertWeights(m, text, target, Map.of()));
        return new Result(model, target, new ConversionReport(target, calibration.size(), kl.textTokens(), kl.visualTokens(), report,
                KvCache.bytesPerToken(m.decoder()), model.kvCacheBytesPerToken()));
    }

    /** Step svd: factorise every layer of a partial-RoPE model from its own activations on the calibration samples. */
    private static Result svdStep(VisionLanguageModel input, List<MultimodalInput> calibration, Options o, Mha2MlaConfig.Step label) {
        ConvertibleModel m = ConvertibleModel.of(input);
        TextConfig text = m.decoder().config();
        int layers = text.numHiddenLayers();
        Mha2MlaConfig existing = input.conversion();
        RopeSelection selection = existing.selection(text.headDim());
        checkRank(text, existing.ropeDim(), o.dKv());
        if (calibration.isEmpty()) throw new IllegalArgumentException("the SVD step needs calibration samples, got none");
        int rank = text.numKeyValueHeads() * o.dKv();
        CalibrationStatistics stats = new CalibrationStatistics(m, true, null, null, o.maxQueryRows());
        try (ProgressBar bar = progress(o, "calibration", calibration.size())) {
            run(stats, calibration, bar);
        }
        Mha2MlaConfig target = existing.withMla(label, o.dKv(), o.svd());
        List<ConversionReport.Layer> report = new ArrayList<>();
        Map<Integer, MlaWeights> converted = new HashMap<>();
        try (ProgressBar bar = progress(o, "factorisation", layers)) {
            for (int l = 0; l < layers; l++) {
                GqaLayerWeights gqa = gqaWeights(m, text, l);
                INDArray w = MlaWeights.kvWeight(gqa, selection, l);
                ModalityCovariance cov = stats.covariance(l);
                CovarianceAccumulator all = cov.allTokens();
                long samples = calibration.size();
                boolean bothModalities = cov.text().tokens() > 0 && cov.visual().tokens() > 0;
                if (o.svd() == SvdMethod.MD && !bothModalities) {
                    throw new IllegalArgumentException("MD-SVD needs calibration tokens of both modalities, got " + cov.text().tokens()
                            + " text and " + cov.visual().tokens() + " visual tokens: add samples with images, or use --svd svd-llm");
                }
                ModalityFactors perModality = bothModalities ? MdSvd.factorize(w, cov, rank, o.eps(), o.split(), samples) : null;
                LowRankFactors svdLlm = SvdLlm.factorize(w, all, rank, o.eps(), o.split(), samples);
                double splitLoss = perModality == null ? Double.NaN
                        : TruncationLoss.onStatistics(w, perModality.text(), cov.text()) + TruncationLoss.onStatistics(w, perModality.visual(), cov.visual());
                double jointLoss = TruncationLoss.onStatistics(w, svdLlm, all);
                LowRankFactors weightOnly = o.svd() == SvdMethod.SVD_JOINT ? WeightSvd.factorize(w, rank, o.split()) : null;
                MlaWeights weights = switch (o.svd()) {
                    case MD -> MlaWeights.build(gqa, selection, l, perModality.text(), perModality.visual());
                    case SVD_LLM -> MlaWeights.build(gqa, selection, l, svdLlm, null);
                    case SVD_JOINT -> MlaWeights.build(gqa, selection, l, weightOnly, null);
                };
                double chosen = switch (o.svd()) {
                    case MD -> splitLoss;
                    case SVD_LLM -> jointLoss;
                    case SVD_JOINT -> TruncationLoss.onStatistics(w, weightOnly, all);
                };
                double energy = w.mmul(all.sum()).muli(w).sumNumber().doubleValue();   // tr(W XᵀX Wᵀ) = ‖WX‖²
                converted.put(l, weights);
                report.add(new ConversionReport.Layer(l, keptPairs(selection, l), Double.NaN, splitLoss, jointLoss, chosen, energy));
                if (bar != null) bar.step();
            }
        }
        VisionLanguageModel model = m.rebuild().apply(target, convertWeights(m, text, target, converted));
        return new Result(model, target, new ConversionReport(target, calibration.size(), stats.textTokens(), stats.visualTokens(),
                report, KvCache.bytesPerToken(m.decoder()), model.kvCacheBytesPerToken()));
    }

    private static void run(CalibrationStatistics stats, List<MultimodalInput> calibration, ProgressBar bar) {
        for (MultimodalInput sample : calibration) {
            stats.add(sample);
            if (bar != null) bar.step();
        }
    }

    private static ProgressBar progress(Options o, String task, long max) {
        if (!o.progress() || max == 0) return null;
        return new ProgressBarBuilder().setTaskName(task).setInitialMax(max).setUpdateIntervalMillis(500).continuousUpdate().build();
    }

    private static int[][] keptPairs(RopeSelection s, int layer) {
        int[][] kept = new int[s.kvHeads()][];
        for (int j = 0; j < kept.length; j++) kept[j] = s.keptPairs(layer, j);
        return kept;
    }

    private static void checkRank(TextConfig text, int ropeDim, int dKv) {
        int nKv = text.numKeyValueHeads();
        int rows = nKv * (2 * text.headDim() - ropeDim);
        int max = Math.min(rows, text.hiddenSize());
        if (dKv <= 0 || (long) nKv * dKv > max) {
            throw new IllegalArgumentException("d_kv = " + dKv + " gives latent rank n_kv·d_kv = " + (long) nKv * dKv + ", outside [1, "
                    + max + "] (min of hidden_size " + text.hiddenSize() + " and the " + rows + " rows of [W_k,nope; W_v]); d_kv ≤ "
                    + max / nKv);
        }
    }

    /** Layer l's q/k/v projections (and biases) as the graph holds them. */
    private static GqaLayerWeights gqaWeights(ConvertibleModel m, TextConfig text, int layer) {
        String key = m.attentionKey(layer);
        return new GqaLayerWeights(array(m.sd(), key + ".q_proj.weight"), optional(m.sd(), key + ".q_proj.bias"),
                array(m.sd(), key + ".k_proj.weight"), optional(m.sd(), key + ".k_proj.bias"),
                array(m.sd(), key + ".v_proj.weight"), optional(m.sd(), key + ".v_proj.bias"),
                text.numAttentionHeads(), text.numKeyValueHeads(), text.headDim());
    }

    private static INDArray array(SameDiff sd, String name) {
        if (!sd.hasVariable(name)) throw new IllegalArgumentException("weight '" + name + "' is missing from the model");
        return sd.getVariable(name).getArr();
    }

    private static INDArray optional(SameDiff sd, String name) {
        return sd.hasVariable(name) ? sd.getVariable(name).getArr() : null;
    }

    /**
     * The converted model's weight graph, in the input's variable order: each layer's q/k/v tensors replaced by the
     * MLA tensors (at the position of its q_proj.weight) or, for partial RoPE, copied; every other tensor shared.
     */
    private static SameDiff convertWeights(ConvertibleModel m, TextConfig text, Mha2MlaConfig target, Map<Integer, MlaWeights> mla) {
        SameDiff out = SameDiff.create();
        Map<String, Integer> attentionPrefix = new HashMap<>();
        for (int l = 0; l < text.numHiddenLayers(); l++) attentionPrefix.put(m.attentionKey(l) + ".", l);
        for (SDVariable v : m.sd().variables()) {
            if (v.getVariableType() != VariableType.VARIABLE) continue;
            String name = v.name();
            Integer layer = layerOf(name, attentionPrefix);
            if (layer == null) {
                out.var(name, v.getArr());
                continue;
            }
            String key = m.attentionKey(layer);
            String local = name.substring(key.length() + 1);
            boolean qkv = local.startsWith("q_proj.") || local.startsWith("k_proj.") || local.startsWith("v_proj.");
            if (target.isMla() && qkv) {
                if (local.equals("q_proj.weight")) addMla(out, key, mla.get(layer));
                continue;
            }
            out.var(name, v.getArr().dup());
        }
        return out;
    }

    private static Integer layerOf(String name, Map<String, Integer> prefixes) {
        int cut = name.indexOf(".self_attn.");
        if (cut < 0) return null;
        return prefixes.get(name.substring(0, cut + ".self_attn.".length()));
    }

    private static void addMla(SameDiff out, String key, MlaWeights w) {
        put(out, key + ".q_proj.weight", w.qProj());
        put(out, key + ".q_proj.bias", w.qBias());
        put(out, key + ".k_rope_proj.weight", w.kRopeProj());
        put(out, key + ".k_rope_proj.bias", w.kRopeBias());
        String[] suffixes = w.decoupled() ? MlaAttention.MODALITIES : new String[]{""};
        for (int m = 0; m < suffixes.length; m++) {
            LatentProjections p = w.latent(m == 1);
            put(out, key + ".kv_down_proj" + suffixes[m] + ".weight", p.kvDown());
            put(out, key + ".k_up_proj" + suffixes[m] + ".weight", p.kUp());
            put(out, key + ".v_up_proj" + suffixes[m] + ".weight", p.vUp());
        }
        put(out, key + ".k_nope_bias", w.kNopeBias());
        put(out, key + ".v_bias", w.vBias());
    }

    private static void put(SameDiff sd, String name, INDArray a) {
        if (a != null) sd.var(name, a.castTo(DataType.FLOAT).dup('c'));
    }
}
