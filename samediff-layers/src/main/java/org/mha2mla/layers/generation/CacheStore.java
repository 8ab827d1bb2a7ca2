package org.mha2mla.layers.generation;

import org.nd4j.linalg.api.ndarray.INDArray;

/** How one cache tensor of one layer is held between passes: as float32 or quantized. */
interface CacheStore {

    /** The tensor as the decoder takes it (float32, its declared layout). */
    INDArray floats();

    /** Takes the tokens a pass appended: {@code grown} is the pass's output, whose last {@code newTokens} tokens are new. */
    void append(INDArray grown, int newTokens);

    /** Keeps only the tokens at {@code indices} (ascending). */
    void keep(int[] indices);

    /** Tokens held. */
    int length();

    /** Bytes held. */
    long bytes();

    /** Float32 storage: the decoder's own output tensor, replaced by the grown one after each step. */
    final class FloatStore implements CacheStore {
        private final TokenRows layout;
        private INDArray tensor;

        FloatStore(TokenRows layout, INDArray tensor) {
            this.layout = layout;
            this.tensor = tensor;
        }

        @Override
        public INDArray floats() {
            return tensor;
        }

        @Override
        public void append(INDArray grown, int newTokens) {
            if (layout.tokens(grown) != layout.tokens(tensor) + newTokens) {
                throw new IllegalStateException("step returned " + layout.tokens(grown) + " tokens, expected "
                        + (layout.tokens(tensor) + newTokens));
            }
            tensor = grown;
        }

        @Override
        public void keep(int[] indices) {
            tensor = layout.select(tensor, indices);
        }

        @Override
        public int length() {
            return layout.tokens(tensor);
        }

        @Override
        public long bytes() {
            return (long) length() * layout.rowLength * Float.BYTES;
        }
    }
}
