package org.mha2mla.importers.safetensors;

/**
 * Any problem reading or writing a safetensors file or a sharded checkpoint: corrupt header, bad offsets,
 * unknown dtype, missing tensor or shard, or an IO error. Unchecked on purpose: a caller loading weights
 * cannot recover from a corrupt checkpoint, and callers (model builders) would otherwise wrap every
 * tensor read. The message always names the file, and the tensor where one is involved.
 */
public final class SafeTensorsException extends RuntimeException {
    public SafeTensorsException(String message) {
        super(message);
    }

    public SafeTensorsException(String message, Throwable cause) {
        super(message, cause);
    }
}
