package org.mha2mla.layers.mla;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import me.tongfei.progressbar.ProgressBar;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.linalg.LinearAlgebra;
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
import org.mha2mla.importers.weights.TensorSource;
import org.mha2mla.layers.VisionLanguageModel;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * One MHA2MLA conversion run layer by layer, the way GPTQ/AWQ-style tools calibrate: the hidden states of every
 * calibration sample at decoder layer l are kept, layer l runs over all of them ({@link CalibrationPasses}), its
 * statistics are gathered and the layer is converted, and its outputs become layer l + 1's inputs. One layer's
 * weights are in float32 at a time, so a 7B model converts in the memory of one layer plus the samples' activations.
 * Per layer:
 * <ol>
 *   <li><b>partial RoPE</b> (steps rope and all): the original layer's q and k before RoPE give MKL or 2-norm scores,
 *       which choose the layer's kept pairs ({@link PartialRope#select}), and the attention KL of full vs partial RoPE
 *       of that choice;</li>
 *   <li><b>low-rank KV</b> (steps svd and all): the per-modality covariances of the k/v projections' input in the
 *       partial-RoPE model feed the factorisation {@code --svd} names (the others only when the options ask for the
 *       ablation figures).</li>
 * </ol>
 * Step all therefore runs each layer twice per sample (the original and the partial-RoPE model, the two activations
 * the method calibrates on); steps rope and svd once. The converted tensors are pulled one at a time through
 * {@link #tensor}, in the order of {@link #names()} (a writer streaming them to shards drives the run); the other
 * tensors are the input's.
 */
public final class Conversion implements AutoCloseable {

    private final VisionLanguageModel input;
    private final TextConfig text;
    private final Mha2MlaConverter.Options options;
    private final Mha2MlaConfig existing;
    private final int layers;
    private final int ropeDim;
    private final int rank;
    private final CalibrationPasses passes;
    private final int[][][] kept;
    private final Map<String, Integer> convertedLayer = new HashMap<>();
    private final Map<String, long[]> shapes = new LinkedHashMap<>();
    private final Map<String, INDArray> pending = new HashMap<>();
    private final List<ConversionReport.Layer> report = new ArrayList<>();
    private final ProgressBar bar;
    private final long[] nanos = new long[Phase.values().length];
    private java.util.function.Consumer<String> weightCheck = name -> { };
    private int done;

    /** Where a conversion's time goes, for {@link #seconds}. */
    public enum Phase {
        /** The original layer over every sample: q, k and the pair scores. */
        PAIR_SCORES,
        /** KL of full vs partial RoPE of the chosen pairs. */
        ATTENTION_KL,
        /** The SVD stream's layer over every sample: the k/v input covariances. */
        COVARIANCE,
        /** The factorisation and the MLA tensors. */
        FACTORISATION
    }

    /**
     * A conversion of {@code input} calibrated by {@code passes} (see {@link Mha2MlaConverter#stream} for the usual
     * local one); {@link #validate} must accept the request first. {@code bar} (may be null) is closed with it.
     */
    public Conversion(VisionLanguageModel input, CalibrationPasses passes, Mha2MlaConverter.Options o, ProgressBar bar) {
        validate(input, passes.samples(), o);
        this.input = input;
        this.text = input.config().textConfig();
        this.options = o;
        this.existing = input.conversion();
        this.layers = text.numHiddenLayers();
        this.ropeDim = ropeDim(input, o);
        this.rank = text.numKeyValueHeads() * o.dKv();
        this.passes = passes;
        boolean scored = o.step() != Mha2MlaConfig.Step.SVD && o.strategy().needsScores();
        this.kept = o.step() == Mha2MlaConfig.Step.SVD ? existing.keptPairs()
                : PartialRope.select(scored ? RopeStrategy.HIGH : o.strategy(), layers, text.numKeyValueHeads(), text.headDim(), ropeDim, null).toArray();
        this.bar = bar;
        planOutputs();
    }

    /**
     * Has {@code check} see every input weight the conversion reads, by key, before it is read (e.g. refusing NaN
     * weights with their name rather than failing later on a NaN score); returns this conversion.
     */
    public Conversion checkingWeights(java.util.function.Consumer<String> check) {
        this.weightCheck = check;
        return this;
    }

    /** Refuses a conversion that cannot run, before any calibration work: wrong step for the model, rank, samples. */
    public static void validate(VisionLanguageModel input, int samples, Mha2MlaConverter.Options o) {
        Mha2MlaConfig existing = input.conversion();
        Mha2MlaConfig.Step step = o.step();
        if (step == Mha2MlaConfig.Step.SVD) {
            if (existing == null || existing.isMla()) {
                throw new IllegalArgumentException("step svd factorises a partial-RoPE model (written by convert --step rope), but this model is "
                        + (existing == null ? "an original one: use --step all, or --step rope first" : "already MLA (" + existing + ")"));
            }
        } else if (existing != null) {
            throw new IllegalArgumentException("step " + step.id() + " converts an original model, but this one is already converted ("
                    + existing + ")" + (existing.isMla() ? "" : ": use --step svd to continue it"));
        }
        TextConfig text = input.config().textConfig();
        if (step.producesMla()) {
            checkRank(text, ropeDim(input, o), o.dKv());
            if (samples == 0) throw new IllegalArgumentException("the SVD step needs calibration samples, got none");
        }
        if (step != Mha2MlaConfig.Step.SVD && o.strategy().needsScores() && samples == 0) {
            throw new IllegalArgumentException(o.strategy().id() + " scoring needs calibration samples, got none");
        }
    }

    /** d_r: the partial-RoPE model's for step svd, else the option (default d_h/4). */
    static int ropeDim(VisionLanguageModel input, Mha2MlaConverter.Options o) {
        TextConfig text = input.config().textConfig();
        if (o.step() == Mha2MlaConfig.Step.SVD) return input.conversion().ropeDim();
        return o.ropeDim() > 0 ? o.ropeDim() : Math.max(2, text.headDim() / 4);
    }

    /** Layer passes per calibration sample and layer: 2 for step all (original and partial-RoPE model), else 1. */
    public static int passes(Mha2MlaConfig.Step step) {
        return step == Mha2MlaConfig.Step.ALL ? 2 : 1;
    }

    /** The converted model's tensor names, input order with each decoder layer's tensors together, layers ascending. */
    public List<String> names() {
        return new ArrayList<>(shapes.keySet());
    }

    /** The shape of output tensor {@code name}. */
    public long[] shape(String name) {
        long[] s = shapes.get(name);
        if (s == null) throw new IllegalArgumentException("the converted model has no tensor '" + name + "'");
        return s.clone();
    }

    /** Whether output tensor {@code name} is computed by the conversion (rather than the input's own). */
    public boolean converted(String name) {
        return convertedLayer.containsKey(name);
    }

    /**
     * Output tensor {@code name} in float32: a converted one runs the conversion up to its layer and is handed out
     * once (then dropped); any other is read from the input.
     */
    public INDArray tensor(String name) {
        Integer layer = convertedLayer.get(name);
        if (layer == null) return input.weights().get(name);
        while (done <= layer) convertNext();
        INDArray t = pending.remove(name);
        if (t == null) throw new IllegalStateException("converted tensor '" + name + "' was already handed out");
        return t;
    }

    /** Runs the layers not run yet (the partial-RoPE step pulls no tensor) and returns the converted model's config. */
    public Mha2MlaConfig finish() {
        while (done < layers) convertNext();
        if (bar != null) bar.close();
        return target();
    }

    /** The converted model's {@code mha2mla} section (after {@link #finish()}). */
    public Mha2MlaConfig target() {
        requireFinished();
        Mha2MlaConfig.Step step = options.step();
        if (step == Mha2MlaConfig.Step.SVD) return existing.withMla(step, options.dKv(), options.svd());
        Mha2MlaConfig rope = Mha2MlaConfig.partialRope(options.strategy(), selection());
        return step == Mha2MlaConfig.Step.ROPE ? rope : rope.withMla(step, options.dKv(), options.svd());
    }

    /** Seconds spent so far in {@code phase}, over all layers. */
    public double seconds(Phase phase) {
        return nanos[phase.ordinal()] / 1e9;
    }

    /** Calibration layer passes per sample and layer this conversion runs (see {@link #passes(Mha2MlaConfig.Step)}). */
    public int layerPasses() {
        return passes.samples() == 0 ? 0 : passes(options.step());
    }

    /** The per-layer report (after {@link #finish()}). */
    public ConversionReport report() {
        requireFinished();
        Mha2MlaConfig target = target();
        return new ConversionReport(target, passes.samples(), passes.textTokens(), passes.visualTokens(), report,
                input.kvCacheBytesPerToken(), cacheBytesPerToken(target));
    }

    private void requireFinished() {
        if (done < layers) throw new IllegalStateException("the conversion has run " + done + " of " + layers + " layers");
    }

    /** Float32 cache bytes per token over all layers of a model with {@code target}'s attention. */
    private long cacheBytesPerToken(Mha2MlaConfig target) {
        long perLayer = target.isMla()
                ? rank + (long) text.numKeyValueHeads() * ropeDim + (target.decoupled() ? 1 : 0)
                : 2L * text.numKeyValueHeads() * text.headDim();
        return perLayer * Float.BYTES * layers;
    }

    /** The selection so far: layers not converted yet keep placeholder pairs. */
    private RopeSelection selection() {
        return new RopeSelection(text.headDim(), kept);
    }

    // ---------------------------------------------------------------------------------------------------------
    // Outputs

    private void planOutputs() {
        TensorSource w = input.weights();
        Map<String, Integer> layerOf = new HashMap<>();
        Map<String, Integer> order = new HashMap<>();
        int i = 0;
        for (String name : w.names()) {
            order.put(name, i++);
            layerOf.put(name, attentionLayer(name));
        }
        List<String> names = new ArrayList<>(w.names());
        names.sort(Comparator.comparingInt((String n) -> decoderLayer(n)).thenComparingInt(order::get));
        boolean mla = options.step().producesMla();
        for (String name : names) {
            Integer layer = layerOf.get(name);
            String key = layer == null ? null : DecoderAttentions.key(input.decoderPrefix(), layer);
            String local = layer == null ? null : name.substring(key.length() + 1);
            boolean qkv = local != null && (local.startsWith("q_proj.") || local.startsWith("k_proj.") || local.startsWith("v_proj."));
            if (mla && qkv) {
                if (local.equals("q_proj.weight")) planMla(key, layer);
                continue;
            }
            shapes.put(name, w.info(name).shape());
        }
    }

    /** The MLA tensors of one layer, named and shaped as {@link MlaAttention} reads them. */
    private void planMla(String key, int layer) {
        long d = text.hiddenSize();
        long nH = text.numAttentionHeads();
        long nKv = text.numKeyValueHeads();
        long dH = text.headDim();
        long nope = dH - ropeDim;
        boolean bias = text.attentionBias();
        plan(key + ".q_proj.weight", layer, nH * dH, d);
        if (bias) plan(key + ".q_proj.bias", layer, nH * dH);
        plan(key + ".k_rope_proj.weight", layer, nKv * ropeDim, d);
        if (bias) plan(key + ".k_rope_proj.bias", layer, nKv * ropeDim);
        String[] suffixes = options.svd().decoupled() ? MlaAttention.MODALITIES : new String[]{""};
        for (String m : suffixes) {
            plan(key + ".kv_down_proj" + m + ".weight", layer, rank, d);
            if (nope > 0) plan(key + ".k_up_proj" + m + ".weight", layer, nKv * nope, rank);
            plan(key + ".v_up_proj" + m + ".weight", layer, nKv * dH, rank);
        }
        if (bias && nope > 0) plan(key + ".k_nope_bias", layer, nKv * nope);
        if (bias) plan(key + ".v_bias", layer, nKv * dH);
    }

    private void plan(String name, int layer, long... shape) {
        shapes.put(name, shape);
        convertedLayer.put(name, layer);
    }

    /** The decoder layer a key belongs to, or −1 (embeddings, vision tower, norm, lm_head). */
    private int decoderLayer(String name) {
        String prefix = input.decoderPrefix() + "layers.";
        if (!name.startsWith(prefix)) return -1;
        int dot = name.indexOf('.', prefix.length());
        try {
            return dot < 0 ? -1 : Integer.parseInt(name.substring(prefix.length(), dot));
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** The layer whose self-attention a key belongs to, or null. */
    private Integer attentionLayer(String name) {
        int layer = decoderLayer(name);
        if (layer < 0 || layer >= layers) return null;
        return name.startsWith(DecoderAttentions.key(input.decoderPrefix(), layer) + ".") ? layer : null;
    }

    // ---------------------------------------------------------------------------------------------------------
    // The run

    private void convertNext() {
        int l = done;
        String attention = DecoderAttentions.key(input.decoderPrefix(), l) + ".";
        for (String name : input.weights().names()) if (name.startsWith(attention)) weightCheck.accept(name);
        Mha2MlaConfig.Step step = options.step();
        double kl = Double.NaN;
        if (step != Mha2MlaConfig.Step.SVD) {
            long t0 = System.nanoTime();
            RopeStrategy scoring = CalibrationPasses.scoring(options.strategy());
            CalibrationPasses.PairScores scores = passes.samples() == 0 ? CalibrationPasses.PairScores.NONE : passes.scorePairs(l, scoring);
            if (scoring != null) {
                RopeSelection one = PartialRope.select(scoring, 1, text.numKeyValueHeads(), text.headDim(), ropeDim, new double[][][]{scores.scores()});
                for (int h = 0; h < text.numKeyValueHeads(); h++) kept[l][h] = one.keptPairs(0, h);
            }
            long t1 = System.nanoTime();
            if (passes.samples() > 0) kl = passes.attentionKl(l, keptPairs(l)).mean();
            nanos[Phase.PAIR_SCORES.ordinal()] += t1 - t0;
            nanos[Phase.ATTENTION_KL.ordinal()] += System.nanoTime() - t1;
        }
        ConversionReport.Layer row = new ConversionReport.Layer(l, keptPairs(l), kl, Double.NaN, Double.NaN, Double.NaN, Double.NaN);
        if (step.producesMla()) {
            long t0 = System.nanoTime();
            ModalityCovariance cov = passes.kvInputCovariance(l, keptPairs(l));
            long t1 = System.nanoTime();
            row = factorize(l, cov, kl);
            nanos[Phase.COVARIANCE.ordinal()] += t1 - t0;
            nanos[Phase.FACTORISATION.ordinal()] += System.nanoTime() - t1;
        }
        report.add(row);
        done++;
        // A layer's temporaries (activations, float64 covariances, the factorisation's work arrays: hundreds of MB at
        // 7B) live off-heap and go back only when the JVM collects their wrappers, which a quiet heap rarely does:
        // without a collection per layer they piled up past 20 GB over Qwen2.5-VL-7B's 28 layers.
        System.gc();
    }

    /** Factorises layer l's [W_k,nope; W_v] as {@code --svd} says and keeps its MLA tensors until they are written. */
    private ConversionReport.Layer factorize(int l, ModalityCovariance cov, double kl) {
        GqaLayerWeights gqa = gqaWeights(l);
        RopeSelection selection = selection();
        INDArray w = MlaWeights.kvWeight(gqa, selection, l);
        boolean both = cov.text().tokens() > 0 && cov.visual().tokens() > 0;
        SvdMethod method = options.svd();
        if (method == SvdMethod.MD && !both) {
            throw new IllegalArgumentException("MD-SVD needs calibration tokens of both modalities, got " + cov.text().tokens()
                    + " text and " + cov.visual().tokens() + " visual tokens: add samples with images, or use --svd svd-llm");
        }
        double eps = options.eps();
        FactorSplit factorSplit = options.split();
        long samples = passes.samples();
        // the joint statistics only where a joint factorisation or loss needs them (another d × d float64 array)
        CovarianceAccumulator all = method == SvdMethod.MD && !options.ablations() ? null : cov.allTokens();
        ModalityFactors split = method == SvdMethod.MD || (options.ablations() && both)
                ? MdSvd.factorize(w, cov, rank, eps, factorSplit, samples) : null;
        LowRankFactors svdLlm = method == SvdMethod.SVD_LLM || options.ablations() ? SvdLlm.factorize(w, all, rank, eps, factorSplit, samples) : null;
        LowRankFactors weightOnly = method == SvdMethod.SVD_JOINT ? WeightSvd.factorize(w, rank, factorSplit) : null;
        // MD-SVD's closed-form loss is TruncationLoss.onStatistics of its factors (MdSvdTest), without two more
        // [rows, d] × [d, d] gemms per layer
        double splitLoss = split == null ? Double.NaN : split.text().truncationLoss() + split.visual().truncationLoss();
        double jointLoss = svdLlm == null ? Double.NaN : TruncationLoss.onStatistics(w, svdLlm, all);
        MlaWeights weights = switch (method) {
            case MD -> MlaWeights.build(gqa, selection, l, split.text(), split.visual());
            case SVD_LLM -> MlaWeights.build(gqa, selection, l, svdLlm, null);
            case SVD_JOINT -> MlaWeights.build(gqa, selection, l, weightOnly, null);
        };
        double chosen = switch (method) {
            case MD -> splitLoss;
            case SVD_LLM -> jointLoss;
            case SVD_JOINT -> TruncationLoss.onStatistics(w, weightOnly, all);
        };
        // ‖WX‖² = Σ (WᵀW ∘ XᵀX) over both modalities' tokens, a report figure: WᵀW in float32 (ssyrk), a third of
        // float64's time
        INDArray wtw = LinearAlgebra.gram(w, DataType.FLOAT);
        double energy = cov.text().outputEnergy(wtw) + cov.visual().outputEnergy(wtw);
        addMla(DecoderAttentions.key(input.decoderPrefix(), l), weights);
        return new ConversionReport.Layer(l, keptPairs(l), kl, splitLoss, jointLoss, chosen, energy);
    }

    /** Layer l's q/k/v projections (and biases) in float32. */
    private GqaLayerWeights gqaWeights(int layer) {
        TensorSource w = input.weights();
        String key = DecoderAttentions.key(input.decoderPrefix(), layer);
        return new GqaLayerWeights(require(w, key + ".q_proj.weight"), optional(w, key + ".q_proj.bias"),
                require(w, key + ".k_proj.weight"), optional(w, key + ".k_proj.bias"),
                require(w, key + ".v_proj.weight"), optional(w, key + ".v_proj.bias"),
                text.numAttentionHeads(), text.numKeyValueHeads(), text.headDim());
    }

    private static INDArray require(TensorSource w, String name) {
        if (!w.contains(name)) throw new IllegalArgumentException("weight '" + name + "' is missing from the model");
        return w.get(name);
    }

    private static INDArray optional(TensorSource w, String name) {
        return w.contains(name) ? w.get(name) : null;
    }

    private void addMla(String key, MlaWeights w) {
        put(key + ".q_proj.weight", w.qProj());
        put(key + ".q_proj.bias", w.qBias());
        put(key + ".k_rope_proj.weight", w.kRopeProj());
        put(key + ".k_rope_proj.bias", w.kRopeBias());
        String[] suffixes = w.decoupled() ? MlaAttention.MODALITIES : new String[]{""};
        for (int m = 0; m < suffixes.length; m++) {
            LatentProjections p = w.latent(m == 1);
            put(key + ".kv_down_proj" + suffixes[m] + ".weight", p.kvDown());
            put(key + ".k_up_proj" + suffixes[m] + ".weight", p.kUp());
            put(key + ".v_up_proj" + suffixes[m] + ".weight", p.vUp());
        }
        put(key + ".k_nope_bias", w.kNopeBias());
        put(key + ".v_bias", w.vBias());
    }

    private void put(String name, INDArray a) {
        if (a == null) return;
        if (!shapes.containsKey(name)) throw new IllegalStateException("converted tensor '" + name + "' was not planned");
        pending.put(name, a.castTo(DataType.FLOAT).dup('c'));
    }

    private int[][] keptPairs(int layer) {
        int[][] k = new int[kept[layer].length][];
        for (int h = 0; h < k.length; h++) k[h] = kept[layer][h].clone();
        return k;
    }

    static void checkRank(TextConfig text, int ropeDim, int dKv) {
        int nKv = text.numKeyValueHeads();
        int rows = nKv * (2 * text.headDim() - ropeDim);
        int max = Math.min(rows, text.hiddenSize());
        if (dKv <= 0 || (long) nKv * dKv > max) {
            throw new IllegalArgumentException("d_kv = " + dKv + " gives latent rank n_kv·d_kv = " + (long) nKv * dKv + ", outside [1, "
                    + max + "] (min of hidden_size " + text.hiddenSize() + " and the " + rows + " rows of [W_k,nope; W_v]); d_kv ≤ "
                    + max / nKv);
        }
    }

    @Override
    public void close() {
        if (bar != null) bar.close();
        passes.close();
    }
}
