package org.mha2mla.importers.processor;

import java.nio.file.Files;
import java.nio.file.Path;

import org.mha2mla.importers.config.ConfigException;
import org.mha2mla.importers.config.JsonFields;
import org.mha2mla.importers.tokenizer.ChatTemplate;
import org.mha2mla.importers.tokenizer.HfTokenizer;
import org.mha2mla.importers.tokenizer.TokenizerException;

/** Shared parts of the three processors: processor_config.json fields, the tokenizer, the (optional) chat template. */
final class ProcessorSettings {

    static final String FILE = "processor_config.json";

    final JsonFields processorConfig;       // null when the folder has no processor_config.json
    final HfTokenizer tokenizer;
    private final ChatTemplate chatTemplate; // null when the folder has none
    private final TokenizerException noTemplate;

    private ProcessorSettings(JsonFields processorConfig, HfTokenizer tokenizer, ChatTemplate chatTemplate,
                              TokenizerException noTemplate) {
        this.processorConfig = processorConfig;
        this.tokenizer = tokenizer;
        this.chatTemplate = chatTemplate;
        this.noTemplate = noTemplate;
    }

    static ProcessorSettings load(Path modelDir) {
        Path file = modelDir.resolve(FILE);
        JsonFields pc = Files.isRegularFile(file) ? JsonFields.read(file) : null;
        HfTokenizer tokenizer = HfTokenizer.load(modelDir);
        ChatTemplate template = null;
        TokenizerException missing = null;
        try {
            template = ChatTemplate.load(modelDir);
        } catch (TokenizerException e) {
            missing = e;                    // raw prompts still work; chatTemplate() reports it when asked
        }
        return new ProcessorSettings(pc, tokenizer, template, missing);
    }

    ChatTemplate chatTemplate() {
        if (chatTemplate == null) throw noTemplate;
        return chatTemplate;
    }

    String string(String field, String fallback) {
        return processorConfig != null ? processorConfig.string(field, fallback) : fallback;
    }

    int integer(String field, int fallback) {
        return processorConfig != null ? processorConfig.integer(field, fallback) : fallback;
    }

    /**
     * The id of the image token, checked against config.json's image token id: if they differ, the model would
     * look for image features at positions the processor never marked.
     */
    int imageTokenId(String token, int configId, Path modelDir) {
        int id = tokenizer.tokenId(token);
        if (id != configId) {
            tokenizer.close();
            throw new ConfigException(modelDir.resolve("config.json") + ": image token id is " + configId + " but the tokenizer maps "
                    + token + " to " + id);
        }
        return id;
    }
}
