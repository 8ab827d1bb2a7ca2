package org.mha2mla.cli;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.concurrent.Callable;

import org.mha2mla.core.Limits;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.importers.image.RgbImage;
import org.mha2mla.importers.processor.ProcessedPrompt;
import org.mha2mla.importers.processor.VlmProcessor;
import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.generation.CachePolicy;
import org.mha2mla.layers.generation.Generation;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
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
        List<RgbImage> images = image == null ? List.of() : List.of(RgbImage.load(image));
        try (VlmProcessor processor = VlmProcessor.load(model); VisionLanguageModel vlm = VlmLoader.load(model)) {
            String text = raw ? prompt : processor.userPrompt(prompt, images.size());
            ProcessedPrompt input = processor.process(text, images);
            Limits.requireGeneration("--max-new-tokens", input.length(), maxNewTokens, positions);
            Limits.requireAttentionMask("the prompt", 1, input.length(), input.length());
            MultimodalInput in = MultimodalInput.of(input);
            long start = System.nanoTime();
            DecoderInput prompt = vlm.decoderInput(in);
            double embedSeconds = (System.nanoTime() - start) / 1e9;
            Set<Integer> eos = new HashSet<>(vlm.config().textConfig().eosTokenIds());
            Generation g = vlm.generator(in, CachePolicy.FULL).run(prompt, maxNewTokens, eos, true, ids -> false);
            double seconds = (System.nanoTime() - start) / 1e9;
            long[] ids = g.tokens();
            // UTF-8 whatever the platform charset (Java 17 uses the locale's, often ASCII in containers).
            PrintStream utf8 = new PrintStream(System.out, true, StandardCharsets.UTF_8);
            utf8.println(processor.tokenizer().decode(ids, true));
            utf8.printf(Locale.ROOT, "%d prompt tokens, %d new tokens in %.2f s: %s %.2f s, prefill %.2f s (%.1f tokens/s), "
                            + "decode %.2f s (%.2f tokens/s)%n", input.length(), ids.length, seconds,
                    images.isEmpty() ? "embedding" : "vision tower + embedding", embedSeconds, g.prefillSeconds(),
                    g.prefillTokensPerSecond(input.length()), g.decodeSeconds(), g.decodeTokensPerSecond());
        }
        return 0;
    }
}
