package org.mha2mla.layers.text;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Predicate;

import org.bytedeco.javacpp.Pointer;
import org.mha2mla.core.tensor.StoredTensor;
import org.mha2mla.importers.weights.TensorSource;
import org.nd4j.autodiff.listeners.Listener;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Runs a model one block graph at a time over weights that stay where they are (a memory-mapped checkpoint in its
 * stored dtype, or arrays computed in this process): the decoder layers of {@link LayerwiseDecoder}, the encoder
 * layers of a vision tower, a projector. A {@link Block} is a SameDiff graph built by the same builders as the
 * whole-model graph over float32 placeholders named with the block's checkpoint keys ({@link Params#placeholders});
 * each run widens the block's stored weights into float32 arrays that the same weight of every other block reuses
 * (a key's buffer is named by the key without its block prefix, e.g. {@code mlp.fc1.weight}), so only one block's
 * weights are ever float32.
 *
 * <p>With {@link LayerwiseDecoder.Residency#KEEP} the stored weights stay open (mapped) between runs until
 * {@link #close()}; with {@link LayerwiseDecoder.Residency#RELEASE} each run closes the weights it read. {@link #close()}
 * releases what is open and the cached activations and lets go of the float32 buffers; the runner can be used again
 * after it.
 *
 * <p>Not thread-safe: one run at a time.
 */
public final class BlockRunner implements AutoCloseable {

    /**
     * A graph over placeholder weights: the keys it reads (fed under their names) and the prefix that is cut from a
     * key to name the float32 buffer it shares with the same weight of other blocks.
     */
    public record Block(SameDiff sd, String prefix, List<String> weights) {
    }

    /**
     * The share of JavaCPP's maxbytes the activation pool's free buffers may hold unless the constructor says otherwise.
     * A quarter: a pass over two LLaVA-NeXT layers of a 2,959-token prompt allocated 84 arrays (1.17 GB) afresh with a
     * budget of a fifth or more at -Xmx8g, and 121 (2.09 GB) with a tenth. The pool holds no more than the passes
     * released: the 2-layer slice's peak was 2.86–2.87 GB at a quarter, against 3.28–3.51 GB with SameDiff's cache at
     * a tenth (benchmarks/scale).
     */
    public static final double DEFAULT_ACTIVATION_CACHE_FRACTION = 0.25;

    private final TensorSource weights;
    private final LayerwiseDecoder.Residency residency;
    private final Map<String, StoredTensor> open = new HashMap<>();
    private final Map<String, INDArray> buffers = new HashMap<>();
    /** The key whose values each buffer holds. */
    private final Map<String, String> holds = new HashMap<>();
    private final List<SameDiff> graphs = new ArrayList<>();
    /** The graph of the last run, the one graph that keeps its session. */
    private SameDiff lastRun;
    private Listener[] listeners = new Listener[0];
    /**
     * The one cache of activation arrays of every block graph. SameDiff gives each graph (per thread) a cache of its
     * own that keeps the arrays of its last run: over the 28–32 blocks of a 7B model that is every block's activations
     * at once (measured: +330 MB of resident memory per Qwen2.5-VL-7B vision block at 448²). Shared, block i + 1
     * reuses the buffers block i released, and about one block's working set stays cached ({@link ActivationPool},
     * its free buffers bounded by {@link #DEFAULT_ACTIVATION_CACHE_FRACTION} of JavaCPP's maxbytes unless the
     * constructor says otherwise).
     */
    private ActivationPool activations;
    /** The share of JavaCPP's maxbytes the activation cache may hold. */
    private final double activationCacheFraction;
    /** The arrays of the last gradient pass, for the next of the same input shapes ({@link #gradients}), and those shapes. */
    private final PassArrays gradientArrays = new PassArrays();
    private String gradientShapes;

    public BlockRunner(TensorSource weights, LayerwiseDecoder.Residency residency) {
        this(weights, residency, DEFAULT_ACTIVATION_CACHE_FRACTION);
    }

    /**
     * A runner whose activation cache holds at most {@code activationCacheFraction} of JavaCPP's maxbytes (e.g. the
     * layer-by-layer gradients' own share).
     */
    public BlockRunner(TensorSource weights, LayerwiseDecoder.Residency residency, double activationCacheFraction) {
        this.weights = weights;
        this.residency = residency;
        this.activationCacheFraction = activationCacheFraction;
        this.activations = newActivationCache();
    }

    private ActivationPool newActivationCache() {
        return new ActivationPool((long) (activationCacheFraction * Pointer.maxBytes()));
    }

    public TensorSource weights() {
        return weights;
    }

    public LayerwiseDecoder.Residency residency() {
        return residency;
    }

    /** A new block graph taking, as placeholders, every weight whose key starts with {@code prefix}. */
    public Block block(String prefix) {
        return block(prefix, key -> true);
    }

    /**
     * A new block graph taking, as placeholders, the weights under {@code prefix} that {@code keep} accepts; the caller
     * builds the block's ops on {@link Block#sd()} with the model's builders, which find the weights by their keys.
     */
    public Block block(String prefix, Predicate<String> keep) {
        SameDiff sd = Params.newGraph();
        List<String> keys = Params.placeholders(sd, weights, key -> key.startsWith(prefix) && keep.test(key));
        if (listeners.length > 0) OneDnnHelpers.attachTo(sd, listeners);   // Params.newGraph attached it alone
        graphs.add(sd);
        return new Block(sd, prefix, keys);
    }

    /**
     * Attaches {@code listeners} to every block graph of this runner, built or to come (e.g. per-op timing), beside
     * {@link OneDnnHelpers}; none detaches.
     */
    public void setListeners(Listener... listeners) {
        this.listeners = listeners.clone();
        for (SameDiff sd : graphs) OneDnnHelpers.attachTo(sd, this.listeners);
    }

    /**
     * Runs {@code block} on {@code inputs} with its weights widened into the shared float32 buffers; returns the
     * requested outputs (fresh arrays, valid after the next run).
     */
    public Map<String, INDArray> run(Block block, Map<String, INDArray> inputs, String... outputs) {
        return run(block, block.prefix(), inputs, outputs);
    }

    /**
     * Runs {@code block}'s graph with the weights under {@code weightPrefix} in place of its own: one graph, built
     * over the keys of the first of several blocks of one shape (the layers of a ViT), serves them all: it is built
     * and its ops set up once, not once per block.
     */
    public Map<String, INDArray> run(Block block, String weightPrefix, Map<String, INDArray> inputs, String... outputs) {
        List<StoredTensor> released = new ArrayList<>();
        try {
            Map<String, INDArray> feed = feed(block, weightPrefix, inputs, released);
            shareActivations(block.sd());
            return block.sd().output(feed, outputs);
        } finally {
            released.forEach(StoredTensor::close);
        }
    }

    /**
     * The gradients of {@code block}'s loss with respect to {@code wanted} (its variables, or placeholders whose gradient
     * the gradient function forms), its weights fed as by {@link #run}; the graph's gradient function must exist
     * ({@link GradientGraph#build}). The pass allocates from {@link PassArrays}: SameDiff gives almost none of a
     * gradient pass's arrays back to its cache before the pass ends, and allocating them afresh took a third of a
     * 2-layer LLaVA-NeXT stage-2 update at 3,072 tokens. A pass whose inputs have the shapes of the one before (the
     * next layer's, or the next query block of one key length, {@link LayerwiseDecoder#keyQuantum}) reuses its arrays;
     * other shapes close them first, so one pass's arrays are held at a time (reusing the matching ones across shapes
     * held two and was no faster). Returns new arrays (the caller may close them).
     */
    public Map<String, INDArray> gradients(Block block, Map<String, INDArray> inputs, List<String> wanted) {
        SameDiff grad = block.sd().getFunction("grad");
        if (grad == null) throw new IllegalStateException("block " + block.prefix() + " has no gradient function: build it first (GradientGraph.build)");
        List<StoredTensor> released = new ArrayList<>();
        try {
            Map<String, INDArray> feed = feed(block, block.prefix(), inputs, released);
            if (lastRun != null && lastRun != grad) lastRun.getSessions().clear();
            lastRun = grad;
            String shapes = PassArrays.shapes(inputs);
            if (shapes.equals(gradientShapes)) gradientArrays.recycle();
            else gradientArrays.clear();
            gradientShapes = shapes;
            gradientArrays.install(grad);
            Map<String, INDArray> out = new HashMap<>(block.sd().calculateGradients(feed, wanted));
            out.replaceAll((name, g) -> g != null && gradientArrays.owns(g) ? g.dup() : g);
            return out;
        } finally {
            released.forEach(StoredTensor::close);
        }
    }

    /** Closes the arrays kept for the next gradient pass ({@link #gradients}): at the end of a backward pass. */
    public void releaseGradientArrays() {
        gradientArrays.clear();
        gradientShapes = null;
    }

    /** {@code inputs} and the weights under {@code weightPrefix} widened into the shared buffers (to close after: {@code released}). */
    private Map<String, INDArray> feed(Block block, String weightPrefix, Map<String, INDArray> inputs, List<StoredTensor> released) {
        Map<String, INDArray> feed = new HashMap<>(inputs);
        for (String placeholder : block.weights()) {
            String local = placeholder.substring(block.prefix().length());
            String key = weightPrefix + local;
            if (!weights.contains(key)) {
                throw new IllegalArgumentException("weight '" + key + "' is missing from " + weights.description() + " (its block runs the graph of "
                        + block.prefix() + ", which has " + placeholder + ")");
            }
            StoredTensor t = stored(key);
            if (residency == LayerwiseDecoder.Residency.RELEASE) released.add(t);
            long[] expected = block.sd().getVariable(placeholder).placeholderShape();
            if (!Arrays.equals(t.shape(), expected)) {
                throw new IllegalArgumentException("weight '" + key + "' has shape " + Arrays.toString(t.shape()) + " but "
                        + placeholder + " has " + Arrays.toString(expected));
            }
            feed.put(placeholder, widened(local, key, t));
        }
        return feed;
    }

    /** Makes {@code sd}'s session on this thread allocate from the one activation cache. */
    private void shareActivations(SameDiff sd) {
        // A SameDiff session keeps an op context per op, which holds that op's last input and output arrays: a
        // graph that stayed with its session would keep one pass's activations alive (hundreds of MB per 7B
        // decoder layer). Only the graph that ran last keeps its session.
        if (lastRun != null && lastRun != sd) lastRun.getSessions().clear();
        lastRun = sd;
        sd.getSessions().computeIfAbsent(Thread.currentThread().getId(), id -> SameDiff.getInferenceFactory().create(sd))
                .setMmgr(activations);
    }

    /**
     * A weight in its stored precision. With {@link LayerwiseDecoder.Residency#KEEP} it stays open until
     * {@link #close()}; with {@link LayerwiseDecoder.Residency#RELEASE} the caller closes it ({@link #done}).
     */
    public StoredTensor stored(String key) {
        if (residency == LayerwiseDecoder.Residency.RELEASE) return weights.stored(key);
        return open.computeIfAbsent(key, weights::stored);
    }

    /**
     * Takes the pages of every open weight out of the process's resident memory ({@link StoredTensor#dropPages}); they
     * stay open, and the next read maps them again from the page cache. For {@link LayerwiseDecoder.Residency#KEEP},
     * whose weights otherwise stay resident once read.
     */
    public void dropPages() {
        open.values().forEach(StoredTensor::dropPages);
    }

    /** Ends the caller's use of a weight from {@link #stored}: closes it under {@link LayerwiseDecoder.Residency#RELEASE}. */
    public void done(StoredTensor t) {
        if (residency == LayerwiseDecoder.Residency.RELEASE) t.close();
    }

    /** A new float32 array with the values of a (small) weight, e.g. a norm weight or LLaVA-NeXT's image_newline. */
    public INDArray floats(String key) {
        StoredTensor t = stored(key);
        try {
            return t.floats();
        } finally {
            done(t);
        }
    }

    /**
     * The float32 array a weight is widened into, shared by the weights of every block with the same local name; a
     * buffer that already holds {@code key} (consecutive runs of one block, as calibration's passes over one layer) is
     * not widened again.
     */
    private INDArray widened(String local, String key, StoredTensor t) {
        INDArray buffer = buffers.get(local);
        if (buffer == null || !Arrays.equals(buffer.shape(), t.shape())) {
            buffer = Nd4j.createUninitialized(DataType.FLOAT, t.shape());
            buffers.put(local, buffer);
        } else if (key.equals(holds.get(local))) {
            return buffer;
        }
        holds.remove(local);
        t.widenInto(buffer);
        holds.put(local, key);
        return buffer;
    }

    /**
     * Releases the open weights and the cached activations and lets go of the float32 buffers; later runs open and
     * allocate them again.
     */
    @Override
    public void close() {
        open.values().forEach(StoredTensor::close);
        open.clear();
        releaseGradientArrays();
        releaseActivations();
    }

    /**
     * Closes the float32 buffers and the cached activations and ends the last graph's session; the open weights stay
     * open. The next run allocates them again.
     */
    public void releaseActivations() {
        if (lastRun != null) lastRun.getSessions().clear();
        lastRun = null;
        buffers.values().forEach(b -> {
            if (b.closeable()) b.close();
        });
        buffers.clear();
        holds.clear();
        activations.close();
        activations = newActivationCache();
    }
}
