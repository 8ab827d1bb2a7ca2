package org.mha2mla.layers.decode;

/** {@link CacheRows} in float32: one array of capacity × rowLength per sequence, read in place. */
final class FloatRows implements CacheRows {

    private final int rowLength;
    private final float[][] rows;
    private int size;

    FloatRows(int batch, int capacity, int rowLength) {
        this.rowLength = rowLength;
        this.rows = new float[batch][Math.multiplyExact(capacity, rowLength)];
    }

    @Override
    public int rowLength() {
        return rowLength;
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public long bytes() {
        return (long) size * rowLength * Float.BYTES * rows.length;
    }

    @Override
    public void putPrefill(int b, float[] src, int offset, int count) {
        System.arraycopy(src, offset, rows[b], size * rowLength, count * rowLength);
    }

    @Override
    public void put(int b, float[] src, int offset) {
        System.arraycopy(src, offset, rows[b], size * rowLength, rowLength);
    }

    @Override
    public void filledByPrefill(int count) {
        size += count;
    }

    @Override
    public void filled() {
        size++;
    }

    @Override
    public void settle() {
    }

    @Override
    public void keep(int[] indices) {
        for (float[] r : rows) {
            for (int k = 0; k < indices.length; k++) {
                if (indices[k] != k) System.arraycopy(r, indices[k] * rowLength, r, k * rowLength, rowLength);
            }
        }
        size = indices.length;
    }

    @Override
    public void tile(int b, int from, int count, Tile tile) {
        tile.data = rows[b];
        tile.offset = from * rowLength;
        tile.stride = rowLength;
    }
}
