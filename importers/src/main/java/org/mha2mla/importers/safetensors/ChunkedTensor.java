package org.mha2mla.importers.safetensors;

import java.nio.ByteBuffer;

/**
 * A tensor whose stored bytes are produced chunk by chunk straight into the file, for tensors too large to hold in
 * memory as float32 (a 7B model's lm_head is 545 M values). The writer holds a few chunks at a time, encodes several
 * at once on its threads ({@link SafeTensorsWriter.Options#threads}) and writes them in order, so an implementation
 * must make each chunk's bytes a function of its index alone.
 */
public interface ChunkedTensor {

    /** Elements per chunk: chunk i covers the flat (row-major) elements [i·n, min(numel, (i+1)·n)). */
    int chunkElements();

    /**
     * Writes chunk {@code index}, the {@code count} elements from flat index {@code start}, into {@code out} from its
     * position, encoded as {@code dtype} in little-endian order ({@code out} is little-endian and has room for
     * exactly {@code count · dtype.size()} bytes). Called concurrently for different chunks.
     */
    void encodeChunk(long index, long start, int count, DType dtype, ByteBuffer out);
}
