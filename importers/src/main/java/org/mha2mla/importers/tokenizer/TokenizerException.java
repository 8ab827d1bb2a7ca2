package org.mha2mla.importers.tokenizer;

/**
 * A tokenizer or chat template that cannot be used: tokenizer.json missing or corrupt, an unknown special
 * token, no chat template in the folder, or a template that fails to render. The message names the file.
 */
public final class TokenizerException extends RuntimeException {
    public TokenizerException(String message) {
        super(message);
    }

    public TokenizerException(String message, Throwable cause) {
        super(message, cause);
    }
}
