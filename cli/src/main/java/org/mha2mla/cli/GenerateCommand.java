package org.mha2mla.cli;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;

import org.mha2mla.Mha2Mla;
import org.mha2mla.core.Limits;
import org.mha2mla.importers.config.HfConfigParser;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

@Command(name = "generate", mixinStandardHelpOptions = true,
        description = "Greedy generation with the KV cache: the prompt (and image) through the model folder's own processor, "
                + "then the model; prints the continuation and the decoding speed.")
final class GenerateCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "Hugging Face model folder (original or converted).")
    Path model;

    @Option(names = "--image", description = "Image file (PNG, JPEG, ...) to ask about.")
    Path image;

    @Option(names = "--prompt", required = true,
            description = "The user message (put through the chat template), or with --raw the whole prompt text.")
    String prompt;

    @Option(names = "--max-new-tokens", defaultValue = "64", description = "Most tokens to generate (default ${DEFAULT-VALUE}).")
    int maxNewTokens;

    @Option(names = "--raw", description = "Use --prompt as is (it must then contain the model's image placeholder when --image is given).")
    boolean raw;

    @Override
    public Integer call() {
        // The KV cache is sized for prompt + new tokens: bounded by the model's positions before anything is allocated.
        int positions = HfConfigParser.read(model).textConfig().maxPositionEmbeddings();
        Limits.requireBetween("--max-new-tokens", maxNewTokens, 1, positions - 1L);
        ModelWarnings.print(model);
        try (Mha2Mla.Model m = Mha2Mla.load(model)) {
            Mha2Mla.Generation g = m.generate(Mha2Mla.GenerateOptions.builder(prompt).image(image).maxNewTokens(maxNewTokens).raw(raw).build());
            // UTF-8 whatever the platform charset (Java 17 uses the locale's, often ASCII in containers).
            PrintStream utf8 = new PrintStream(System.out, true, StandardCharsets.UTF_8);
            utf8.println(g.text());
            utf8.printf(Locale.ROOT, "%d prompt tokens, %d new tokens in %.2f s: %s %.2f s, prefill %.2f s (%.1f tokens/s), "
                            + "decode %.2f s (%.2f tokens/s)%n", g.promptTokens(), g.ids().length, g.seconds(),
                    image == null ? "embedding" : "vision tower + embedding", g.embedSeconds(), g.prefillSeconds(),
                    g.promptTokens() / g.prefillSeconds(), g.decodeSeconds(), g.decodeTokensPerSecond());
        }
        return 0;
    }
}
