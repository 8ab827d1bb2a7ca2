package org.mha2mla.layers.mla;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import org.mha2mla.core.tensor.StoredTensor;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The hidden states [1, L_s, d] of every calibration sample at one decoder layer, as GPTQ-style calibration keeps
 * them: a layer runs over all samples, and its outputs become the next layer's inputs. Held in memory when they fit
 * the budget, else in a temporary file (deleted on {@link #close()}) read and written one sample at a time, so the
 * samples of a 7B calibration (512 samples × ~1k tokens × 3584 floats ≈ 7 GB) do not need the memory.
 */
final class ActivationStore implements AutoCloseable {

    private final int[] lengths;
    private final long width;
    private final INDArray[] memory;
    private final FileChannel file;
    private final Path path;
    private final long[] offsets;

    /**
     * @param lengths     tokens per sample
     * @param width       hidden size d
     * @param budgetBytes the most this store may hold in memory; beyond it, a temporary file in {@code spillDir}
     */
    ActivationStore(int[] lengths, long width, long budgetBytes, Path spillDir) {
        this.lengths = lengths.clone();
        this.width = width;
        this.offsets = new long[lengths.length + 1];
        for (int s = 0; s < lengths.length; s++) offsets[s + 1] = offsets[s] + lengths[s] * width * Float.BYTES;
        if (offsets[lengths.length] <= budgetBytes) {
            this.memory = new INDArray[lengths.length];
            this.file = null;
            this.path = null;
        } else {
            this.memory = null;
            try {
                Files.createDirectories(spillDir);
                this.path = Files.createTempFile(spillDir, "mha2mla-activations-", ".bin");
                this.file = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE, StandardOpenOption.DELETE_ON_CLOSE);
            } catch (IOException e) {
                throw new UncheckedIOException(spillDir + ": cannot create the calibration activation file (" + e.getMessage() + ")", e);
            }
        }
    }

    /** Whether the activations live in a file. */
    boolean spilled() {
        return file != null;
    }

    /** Bytes of all samples' activations. */
    long bytes() {
        return offsets[lengths.length];
    }

    /** Stores sample s's hidden states [1, L_s, d] (copied). */
    void put(int s, INDArray h) {
        if (h.length() != lengths[s] * width) {
            throw new IllegalArgumentException("sample " + s + ": " + h.length() + " values, expected " + lengths[s] + " × " + width);
        }
        INDArray c = Nd4j.createUninitialized(DataType.FLOAT, 1, lengths[s], width);
        c.assign(h.reshape(1, lengths[s], width));
        if (memory != null) {
            memory[s] = c;
            return;
        }
        ByteBuffer b = StoredTensor.window(c, 0, c.length());
        try {
            long at = offsets[s];
            while (b.hasRemaining()) at += file.write(b, at);
        } catch (IOException e) {
            throw new UncheckedIOException(path + ": cannot write calibration activations (" + e.getMessage() + ")", e);
        }
    }

    /** Sample s's hidden states [1, L_s, d]. */
    INDArray get(int s) {
        if (memory != null) {
            if (memory[s] == null) throw new IllegalStateException("no activations stored for sample " + s);
            return memory[s];
        }
        INDArray h = Nd4j.createUninitialized(DataType.FLOAT, 1, lengths[s], width);
        ByteBuffer b = StoredTensor.window(h, 0, h.length());
        try {
            long at = offsets[s];
            while (b.hasRemaining()) {
                int n = file.read(b, at);
                if (n < 0) throw new IOException("end of file at byte " + at);
                at += n;
            }
        } catch (IOException e) {
            throw new UncheckedIOException(path + ": cannot read calibration activations (" + e.getMessage() + ")", e);
        }
        return h;
    }

    @Override
    public void close() {
        if (file == null) return;
        try {
            file.close();
        } catch (IOException ignored) {
            // the file is deleted on close; nothing else to do
        }
    }
}
