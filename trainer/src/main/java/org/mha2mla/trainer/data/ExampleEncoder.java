package org.mha2mla.trainer.data;

import java.nio.file.Path;

/**
 * Turns one LLaVA-instruct record into model input the way the model's own processor does (chat template,
 * tokenizer with the image placeholder expanded, image processor) and labels its assistant tokens.
 */
@FunctionalInterface
public interface ExampleEncoder {

    TrainingExample encode(InstructSample sample, Path imageRoot);
}
