package org.mha2mla.trainer;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

import org.mha2mla.core.tensor.Parallel;
import org.mha2mla.core.tensor.StoredTensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Adam with decoupled weight decay (Loshchilov &amp; Hutter), step for step as {@code torch.optim.AdamW} (single-tensor
 * path, no amsgrad), element by element in float32 as torch computes it:
 * <pre>
 *   p ← p·(1 − lr·λ)                                  (matrices only)
 *   m ← m + (g − m)·(1 − β1)                          (torch's lerp)
 *   v ← v·β2 + (1 − β2)·g·g
 *   p ← p − lr/(1 − β1ᵗ) · m / (√v/√(1 − β2ᵗ) + ε)
 * </pre>
 * Written here rather than through SameDiff's TrainingConfig updater because the trainer needs the global-norm gradient
 * clipping and accumulation between the gradient and the update, and the moments and step as plain tensors for an exact
 * resume. Weight decay applies to matrices (rank ≥ 2) only: biases and norm weights are excluded, as HF's Trainer does.
 *
 * <p>The moments (8 bytes per trainable parameter) live in memory, or in a file when they would not fit beside the
 * rest of a run ({@link #onDisk}: e.g. LLaVA-1.5-7B's stage 1 trains 1.07 B parameters, whose moments alone are 8.6 GB);
 * the file is read and written in chunks with positioned I/O through two reused buffers, so the moments never count
 * against the process's memory and the operating system keeps whatever fits of them in its page cache. Both stores run
 * the same arithmetic, so a run gives the same numbers either way. An update allocates nothing.
 */
public final class AdamW implements AutoCloseable {

    public record Config(double beta1, double beta2, double eps, double weightDecay) {
        public Config {
            if (beta1 < 0 || beta1 >= 1 || beta2 < 0 || beta2 >= 1) {
                throw new IllegalArgumentException("betas must be in [0, 1), got " + beta1 + ", " + beta2);
            }
            if (eps <= 0 || weightDecay < 0) {
                throw new IllegalArgumentException("need eps > 0 and weight decay >= 0, got " + eps + ", " + weightDecay);
            }
        }

        /** torch.optim.AdamW's betas (0.9, 0.999) and eps 1e-8 with the given decay. */
        public static Config defaults(double weightDecay) {
            return new Config(0.9, 0.999, 1e-8, weightDecay);
        }
    }

    /** Elements of a tensor updated at once from the moment file (16 MB of each moment). */
    static final int CHUNK = 1 << 22;

    private final int chunk;
    private final Config config;
    private final Map<String, long[]> shapes = new LinkedHashMap<>();
    private final Map<String, INDArray> m = new LinkedHashMap<>();
    private final Map<String, INDArray> v = new LinkedHashMap<>();
    /** Byte offset of each tensor's first moment in the file; its second moment follows it. */
    private final Map<String, Long> offsets = new LinkedHashMap<>();
    private final Path file;
    private final FileChannel channel;
    private ByteBuffer mChunk;
    private ByteBuffer vChunk;
    private long step;

    /** Zero moments in memory for every parameter of {@code shapes}. */
    public AdamW(Config config, Map<String, long[]> shapes) {
        this(config, shapes, null);
    }

    /**
     * Zero moments for every parameter of {@code shapes}, in {@code momentFile} (created, and deleted by {@link #close})
     * or, when it is null, in memory.
     */
    public AdamW(Config config, Map<String, long[]> shapes, Path momentFile) {
        this(config, shapes, momentFile, CHUNK);
    }

    /** With {@code chunk} elements per read of the moment file (tests of tensors that span several chunks). */
    AdamW(Config config, Map<String, long[]> shapes, Path momentFile, int chunk) {
        this.config = config;
        this.chunk = chunk;
        this.shapes.putAll(shapes);
        this.file = momentFile;
        if (momentFile == null) {
            shapes.forEach((name, shape) -> {
                m.put(name, Nd4j.zeros(DataType.FLOAT, shape));
                v.put(name, Nd4j.zeros(DataType.FLOAT, shape));
            });
            this.channel = null;
            return;
        }
        long offset = 0;
        for (Map.Entry<String, long[]> e : shapes.entrySet()) {
            offsets.put(e.getKey(), offset);
            offset += 2 * 4 * numel(e.getValue());
        }
        try {
            Files.createDirectories(momentFile.toAbsolutePath().getParent());
            this.channel = FileChannel.open(momentFile, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE,
                    StandardOpenOption.TRUNCATE_EXISTING);
            // A file of zeros (sparse where the file system allows): the moments start at 0.
            channel.write(ByteBuffer.wrap(new byte[1]), Math.max(0, offset - 1));
        } catch (IOException e) {
            throw new UncheckedIOException(momentFile + ": cannot create the optimizer's moment file (" + e.getMessage() + ")", e);
        }
    }

    /**
     * Whether the moments of {@code trainableParameters} should go to a file on a machine of {@code physicalBytes}: when
     * the trainable tensors' four float32 copies (parameter, gradient and the two moments, 16 bytes a parameter) would
     * take more than 40% of the memory, the rest being the model's working set. On 24 GB that moves them to disk above
     * 0.61 B trainable parameters: Qwen2.5-VL-7B's stages (0.41 B and 0.44 B) keep them in memory (6.6 and 7.0 GB),
     * LLaVA-NeXT-8B's stage 1 (0.67 B) and LLaVA-1.5-7B's (1.07 B, whose moments alone are 8.6 GB) write them to disk.
     */
    public static boolean momentsOnDisk(long trainableParameters, long physicalBytes) {
        return 16 * trainableParameters > 0.4 * physicalBytes;
    }

    private static long numel(long[] shape) {
        long n = 1;
        for (long s : shape) n *= s;
        return n;
    }

    public Config config() {
        return config;
    }

    /** Updates taken so far (t of the bias correction). */
    public long step() {
        return step;
    }

    /** Whether the moments are in a file rather than in memory. */
    public boolean onDisk() {
        return file != null;
    }

    /** The parameters it keeps moments for, in order. */
    public Set<String> names() {
        return Collections.unmodifiableSet(shapes.keySet());
    }

    /** The first moment of {@code name}: the live array in memory, or a copy read from the file. */
    public INDArray firstMoment(String name) {
        return moment(name, 0);
    }

    /** The second moment of {@code name}, as {@link #firstMoment}. */
    public INDArray secondMoment(String name) {
        return moment(name, 1);
    }

    private INDArray moment(String name, int which) {
        long[] shape = shape(name);
        if (file == null) return (which == 0 ? m : v).get(name);
        INDArray a = Nd4j.createUninitialized(DataType.FLOAT, shape);
        transfer(name, which, a, false);
        return a;
    }

    /** The shape of {@code name}'s parameter (and moments). */
    public long[] shape(String name) {
        long[] shape = shapes.get(name);
        if (shape == null) throw new IllegalArgumentException("optimizer has no state for '" + name + "'");
        return shape;
    }

    /** Replaces the state with a saved one (same parameter names and shapes). */
    public void restore(long savedStep, Map<String, INDArray> savedM, Map<String, INDArray> savedV) {
        for (String name : shapes.keySet()) {
            INDArray mi = checked("exp_avg", name, savedM.get(name), shapes.get(name));
            INDArray vi = checked("exp_avg_sq", name, savedV.get(name), shapes.get(name));
            if (file == null) {
                m.get(name).assign(mi);
                v.get(name).assign(vi);
            } else {
                transfer(name, 0, mi.dup('c'), true);
                transfer(name, 1, vi.dup('c'), true);
            }
        }
        this.step = savedStep;
    }

    private static INDArray checked(String what, String name, INDArray saved, long[] shape) {
        if (saved == null) throw new IllegalArgumentException("optimizer state has no " + what + " for '" + name + "'");
        if (!Arrays.equals(saved.shape(), shape)) {
            throw new IllegalArgumentException("optimizer " + what + " of '" + name + "' has shape " + Arrays.toString(saved.shape())
                    + ", the parameter " + Arrays.toString(shape));
        }
        return saved;
    }

    /** Copies moment {@code which} of {@code name} between the file and {@code a} (to the file when {@code write}). */
    private void transfer(String name, int which, INDArray a, boolean write) {
        long n = a.length();
        long base = offsets.get(name) + (long) which * 4 * n;
        try {
            for (long from = 0; from < n; from += chunk) {
                int count = (int) Math.min(chunk, n - from);
                ByteBuffer window = StoredTensor.window(a, from, count);
                long at = base + 4 * from;
                while (window.hasRemaining()) {
                    int done = write ? channel.write(window, at) : channel.read(window, at);
                    if (done < 0) throw new IOException("unexpected end of file");
                    at += done;
                }
            }
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot " + (write ? "write" : "read") + " the moments of '" + name + "' (" + e.getMessage() + ")", e);
        }
    }

    /** One update of every parameter in place; {@code grads} are the (clipped, averaged) gradients by name. */
    public void update(Map<String, INDArray> params, Map<String, INDArray> grads, double lr) {
        step++;
        Rule rule = new Rule(config, lr, step);
        for (String name : shapes.keySet()) {
            INDArray p = params.get(name);
            INDArray g = grads.get(name);
            if (p == null || g == null) throw new IllegalArgumentException("no parameter or gradient for '" + name + "'");
            boolean decay = p.rank() >= 2 && config.weightDecay() > 0;
            INDArray target = contiguous(p) ? p : p.dup('c');
            INDArray grad = contiguous(g) ? g : g.dup('c');
            if (file == null) {
                rule.apply(window(target), window(grad), window(m.get(name)), window(v.get(name)), 0, (int) p.length(), decay);
            } else {
                updateFromFile(name, target, grad, rule, decay);
            }
            if (target != p) p.assign(target);
        }
    }

    private static boolean contiguous(INDArray a) {
        return a.dataType() == DataType.FLOAT && a.ordering() == 'c' && !a.isView() && a.length() <= Integer.MAX_VALUE / 4;
    }

    private static FloatBuffer window(INDArray a) {
        return StoredTensor.window(a, 0, a.length()).asFloatBuffer();
    }

    private void updateFromFile(String name, INDArray p, INDArray g, Rule rule, boolean decay) {
        long n = p.length();
        if (mChunk == null) {
            mChunk = ByteBuffer.allocateDirect(4 * chunk).order(ByteOrder.LITTLE_ENDIAN);
            vChunk = ByteBuffer.allocateDirect(4 * chunk).order(ByteOrder.LITTLE_ENDIAN);
        }
        long mBase = offsets.get(name);
        long vBase = mBase + 4 * n;
        FloatBuffer pb = window(p);
        FloatBuffer gb = window(g);
        for (long from = 0; from < n; from += chunk) {
            int count = (int) Math.min(chunk, n - from);
            read(mChunk, mBase + 4 * from, count, name);
            read(vChunk, vBase + 4 * from, count, name);
            rule.apply(pb.slice((int) from, count), gb.slice((int) from, count), mChunk.asFloatBuffer(), vChunk.asFloatBuffer(), 0, count, decay);
            write(mChunk, mBase + 4 * from, count, name);
            write(vChunk, vBase + 4 * from, count, name);
        }
    }

    private void read(ByteBuffer b, long at, int count, String name) {
        b.clear().limit(4 * count);
        try {
            while (b.hasRemaining()) {
                if (channel.read(b, at + b.position()) < 0) throw new IOException("unexpected end of file");
            }
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot read the moments of '" + name + "' (" + e.getMessage() + ")", e);
        }
        b.flip();
    }

    private void write(ByteBuffer b, long at, int count, String name) {
        b.clear().limit(4 * count);
        try {
            while (b.hasRemaining()) channel.write(b, at + b.position());
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot write the moments of '" + name + "' (" + e.getMessage() + ")", e);
        }
    }

    /** The update's constants, in float32 as torch holds them, and the element-wise rule over buffers. */
    private static final class Rule {
        final float decayFactor;
        final float oneMinusBeta1;
        final float beta2;
        final float oneMinusBeta2;
        final float bc2Sqrt;
        final float eps;
        final float stepSize;

        Rule(Config c, double lr, long step) {
            this.decayFactor = (float) (1 - lr * c.weightDecay());
            this.oneMinusBeta1 = (float) (1 - c.beta1());
            this.beta2 = (float) c.beta2();
            this.oneMinusBeta2 = (float) (1 - c.beta2());
            this.bc2Sqrt = (float) Math.sqrt(1 - Math.pow(c.beta2(), step));
            this.eps = (float) c.eps();
            this.stepSize = (float) (lr / (1 - Math.pow(c.beta1(), step)));
        }

        void apply(FloatBuffer p, FloatBuffer g, FloatBuffer m, FloatBuffer v, int from, int to, boolean decay) {
            Parallel.forRange(to - from, 1 << 16, (a, b) -> {
                for (int i = from + a; i < from + b; i++) {
                    float gi = g.get(i);
                    float mi = m.get(i);
                    mi += (gi - mi) * oneMinusBeta1;
                    float vi = v.get(i) * beta2 + oneMinusBeta2 * gi * gi;
                    float pi = decay ? p.get(i) * decayFactor : p.get(i);
                    float denom = (float) Math.sqrt(vi) / bc2Sqrt + eps;
                    m.put(i, mi);
                    v.put(i, vi);
                    p.put(i, pi - stepSize * (mi / denom));
                }
            });
        }
    }

    /** Closes and deletes the moment file (nothing for moments in memory). */
    @Override
    public void close() {
        if (channel == null) return;
        try {
            channel.close();
            Files.deleteIfExists(file);
        } catch (IOException e) {
            throw new UncheckedIOException(file + ": cannot remove the optimizer's moment file", e);
        }
    }
}
