package org.mha2mla.evaluation.run;

import java.nio.file.Path;

/**
 * The encoder {@code mha2mla eval} uses for a model folder.
 *
 * <p>MERGE POINT: the image side belongs to importers' {@code processor.VlmProcessor} (CLIP resize/crop/normalise,
 * LLaVA-NeXT anyres, Qwen2-VL smart resize + patchify), which this branch does not have yet. Until it is plugged
 * in here (as the {@link ChatTemplateEncoder.ImageInputs}, or as the whole {@link RequestEncoder}), this encoder
 * renders the chat template and tokenizes text-only requests exactly, and refuses requests that carry images.
 */
public final class RequestEncoders {

    private RequestEncoders() {
    }

    public static RequestEncoder forModel(Path modelDir) {
        return ChatTemplateEncoder.load(modelDir, null);
    }
}
