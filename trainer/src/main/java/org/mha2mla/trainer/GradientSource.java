package org.mha2mla.trainer;

import java.lang.management.ManagementFactory;
import java.util.List;
import java.util.Map;

import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.trainer.data.TrainingExample;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Where an optimizer update gets its gradients from: the model's parameters as float32 arrays that the update changes
 * in place, and ∂(Σ supervised cross-entropy)/∂θ of a micro-batch. {@link PeftStage} turns them into one update
 * (accumulate, token mean, clip, AdamW) whatever the source:
 * <ul>
 * <li>{@link WholeGraphGradients}: the model as one SameDiff graph over float32 copies of its weights (small models,
 * and pretraining, where the vision tower trains too);</li>
 * <li>{@link ReplicatedGradients}: copies of such a graph, one per core, each on a share of the micro-batch;</li>
 * <li>{@link LayerwiseGradients}: one decoder layer at a time over weights that stay in their stored dtype, recomputing
 * each layer on the way back (models larger than memory).</li>
 * </ul>
 * {@link Kind#choose} picks between the last and the first for a model and a mask; {@link Kind#open} runs the first as
 * the second on a machine of several cores ({@link Kind#graphReplicas}).
 */
public interface GradientSource extends AutoCloseable {

    /** One micro-batch prepared for a source (its placeholders), with its next-token targets. */
    interface Batch {
        /** [B][L] next-token targets, −100 on prompt, image and padding positions. */
        long[][] targets();

        /** Real (unpadded) input tokens. */
        int tokens();

        default int supervisedTokens() {
            return MaskedCrossEntropy.countSupervised(targets());
        }

        /** Frees the batch's arrays now (ND4J releases off-heap memory only when the Java objects are collected). */
        void release();
    }

    /** Every parameter of the model by name, with its element count, in checkpoint order (frozen ones too). */
    Map<String, Long> parameterSizes();

    /** The trainable parameters by name: live float32 arrays, so an update in place changes what the next pass computes. */
    Map<String, INDArray> trainable();

    /** The examples as one micro-batch for this source (right-padded to the longest). */
    Batch batch(List<TrainingExample> examples);

    /**
     * Adds ∂(Σ over supervised positions of the cross-entropy)/∂θ of {@code batch} to {@code grads} (one array per
     * trainable parameter, same names) and returns that sum of cross-entropies.
     */
    double accumulate(Batch batch, Map<String, INDArray> grads);

    /** The sum of the cross-entropies of {@code batch} over its supervised positions at the current parameters. */
    double lossSum(Batch batch);

    /** Called after the optimizer changed {@link #trainable()} in place (replicas take the new values). */
    default void updated() {
    }

    /**
     * Where a source whose update takes long reports where it is within {@link #accumulate} (e.g. {@code backward
     * layer 12/32}); the training loop shows it beside its progress bar. Sources that do not report ignore it.
     */
    default void reportProgress(java.util.function.Consumer<String> where) {
    }

    @Override
    void close();

    /** The machine's physical memory in bytes (what the memory rules of the trainer are fractions of). */
    static long physicalMemory() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean()).getTotalMemorySize();
    }

    /** Which source the {@code train} command uses ({@code --gradients}). */
    enum Kind {
        /** {@link #GRAPH} when the whole graph fits the machine comfortably, else {@link #LAYERS} (see {@link #choose}). */
        AUTO,
        /** {@link WholeGraphGradients}: the whole decoder as one graph. */
        GRAPH,
        /** {@link LayerwiseGradients}: one decoder layer at a time. */
        LAYERS;

        /**
         * The source for training a model whose decoder has {@code decoderParameters} parameters on a machine of
         * {@code physicalBytes} memory: the whole graph holds float32 copies of every decoder weight (4 bytes each) and
         * every layer's activations at once, the layer-by-layer source one layer of them. AUTO takes the whole graph,
         * the faster one (no recomputation, one graph), while those copies take at most an eighth of the machine's
         * memory, and also when a trainable tensor lies outside the decoder layers, which only the whole graph can
         * train. On 24 GB that is up to 0.77 B decoder parameters: the fixtures, the demo and the benchmark models go
         * through the graph, 7B models layer by layer (peak memory of both at the boundary: benchmarks/trainer/README.md).
         */
        public Kind choose(long decoderParameters, long physicalBytes, boolean onlyDecoderLayersTrain) {
            if (this != AUTO) return this;
            if (!onlyDecoderLayersTrain) return GRAPH;
            return 4L * decoderParameters <= physicalBytes / 8 ? GRAPH : LAYERS;
        }

        /** {@link #choose} for {@code model} and {@code mask} on this machine. */
        public Kind choose(VisionLanguageModel model, FreezeMask mask) {
            boolean onlyLayers = true;
            String layers = model.decoderPrefix() + "layers.";
            for (String key : model.weights().names()) {
                if (mask.isTrainable(key) && isDecoder(model, key) && !key.startsWith(layers)) onlyLayers = false;
            }
            return choose(decoderParameters(model), physicalMemory(), onlyLayers);
        }

        /**
         * The source of this kind (AUTO chooses first) training what {@code mask} selects of {@code model}. The whole
         * graph runs as {@link #graphReplicas} replicas ({@link ReplicatedGradients}).
         */
        public GradientSource open(VisionLanguageModel model, FreezeMask mask) {
            return switch (choose(model, mask)) {
                case GRAPH -> WholeGraphGradients.onReplicas(model, mask, graphReplicas(decoderParameters(model), physicalMemory(),
                        Runtime.getRuntime().availableProcessors(), Nd4j.getEnvironment().maxThreads()));
                case LAYERS -> new LayerwiseGradients(model, mask);
                case AUTO -> throw new IllegalStateException("AUTO chose itself");
            };
        }

        /**
         * How many copies of the whole graph train side by side: one per core ({@link ReplicatedGradients#replicasFor}),
         * each on single-threaded ops, while their float32 weights together stay within the eighth of the machine that
         * {@link #choose} gives one graph; one when ND4J already runs on one thread ({@code OMP_NUM_THREADS=1}: the
         * process has other work for the other cores, as the demo's steps, which run side by side) or a second copy
         * does not fit. Replicas split each micro-batch, so a batch of one example runs on one of them alone (as fast
         * as one graph on two threads at the trainer benchmark's shape; benchmarks/trainer/README.md).
         */
        static int graphReplicas(long decoderParameters, long physicalBytes, int cpus, int nd4jThreads) {
            if (nd4jThreads <= 1) return 1;
            int replicas = ReplicatedGradients.replicasFor(cpus);
            while (replicas > 1 && 4L * decoderParameters * replicas > physicalBytes / 8) replicas--;
            return replicas;
        }

        /** Parameters of the decoder and the lm_head of {@code model}: what a whole graph holds in float32. */
        private static long decoderParameters(VisionLanguageModel model) {
            long decoder = 0;
            for (String key : model.weights().names()) {
                if (!isDecoder(model, key)) continue;
                long n = 1;
                for (long s : model.weights().info(key).shape()) n *= s;
                decoder += n;
            }
            return decoder;
        }

        private static boolean isDecoder(VisionLanguageModel model, String key) {
            return key.startsWith(model.decoderPrefix()) || key.equals(model.lmHeadKey());
        }

        /** How the log names it. */
        public String description() {
            return switch (this) {
                case AUTO -> "chosen by size";
                case GRAPH -> "whole graph";
                case LAYERS -> "layer by layer";
            };
        }
    }
}
