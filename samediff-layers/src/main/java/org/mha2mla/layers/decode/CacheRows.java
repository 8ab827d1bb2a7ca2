package org.mha2mla.layers.decode;

/**
 * One cache tensor of one layer, preallocated for {@code capacity} tokens of every sequence of a batch and held as
 * one row per token ({@code rowLength} values: the tensor's axes other than batch and sequence, in C order; e.g.
 * GQA's key [B, n_kv, T, d_h] → rows of n_kv·d_h with KV head j at offset j·d_h). Slots [0, size) are filled, in
 * the order the tokens came; a new token takes slot {@code size}. Rows are read a tile of slots at a time, straight
 * from the float32 storage or dequantized into a small buffer.
 */
interface CacheRows {

    /** Values per token row. */
    int rowLength();

    /** Filled slots. */
    int size();

    /** Bytes held by the filled slots of all sequences, as stored. */
    long bytes();

    /**
     * Writes {@code count} prompt rows of sequence {@code b} from {@code src[offset …]} into slots [size, size + count)
     * (quantized storage quantizes them at once); {@link #filledByPrefill} follows once every sequence's are written.
     */
    void putPrefill(int b, float[] src, int offset, int count);

    /** Marks the {@code count} slots {@link #putPrefill} wrote as filled. */
    void filledByPrefill(int count);

    /** Writes a decoded token's row of sequence {@code b} into slot {@code size}; {@link #filled} follows. */
    void put(int b, float[] src, int offset);

    /** Marks slot {@code size}, written by {@link #put} for every sequence, as filled. */
    void filled();

    /** After a step: quantized storage quantizes its full-precision residual once it reaches the residual length. */
    void settle();

    /** Keeps only the slots at {@code indices} (ascending, within [0, size)), compacted to [0, indices.length). */
    void keep(int[] indices);

    /** Points {@code tile} at the rows of slots [from, from + count) of sequence b as float32. */
    void tile(int b, int from, int count, Tile tile);

    /** Float32 rows of a tile: {@code data[offset + i·stride + c]} is value c of the tile's row i. */
    final class Tile {
        float[] data;
        int offset;
        int stride;
        /** Holds dequantized rows when the storage is not float32; grown on demand. */
        float[] scratch = new float[0];

        float[] scratch(int floats) {
            if (scratch.length < floats) scratch = new float[floats];
            return scratch;
        }
    }
}
