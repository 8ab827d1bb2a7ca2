package org.mha2mla.importers.image;

/**
 * An image that cannot be used: missing, unreadable, corrupt, an unsupported colour model, or a size the
 * processor cannot handle. The message names the file (or the image's index) and what was expected.
 */
public final class ImageException extends RuntimeException {
    public ImageException(String message) {
        super(message);
    }

    public ImageException(String message, Throwable cause) {
        super(message, cause);
    }
}
