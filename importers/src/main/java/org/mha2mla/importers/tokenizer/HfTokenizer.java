package org.mha2mla.importers.tokenizer;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.OptionalInt;
import java.util.Set;

import ai.djl.huggingface.tokenizers.HuggingFaceTokenizer;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

/**
 * A Hugging Face fast tokenizer ({@code tokenizer.json}) through DJL's binding of the Rust {@code tokenizers}
 * library, used the way transformers' processors call it: {@link #encode} adds special tokens as the
 * tokenizer.json post-processor says (the LLaVA fixtures' BOS; none for Qwen), with no truncation and no padding
 * (DJL would otherwise cut at 512 tokens). Special-token ids come from tokenizer.json's {@code added_tokens};
 * bos/eos/pad names from {@code tokenizer_config.json} when present.
 */
public final class HfTokenizer implements AutoCloseable {

    public static final String FILE = "tokenizer.json";
    public static final String CONFIG_FILE = "tokenizer_config.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    private final HuggingFaceTokenizer tokenizer;
    private final Path file;
    private final Map<String, Integer> addedTokens;
    private final Set<Integer> specialIds;
    private final Map<String, Integer> vocab;
    private final Map<String, String> specialTokens;
    private final boolean cleanUpSpaces;

    private HfTokenizer(HuggingFaceTokenizer tokenizer, Path file, Map<String, Integer> addedTokens, Set<Integer> specialIds,
                        Map<String, Integer> vocab, Map<String, String> specialTokens, boolean cleanUpSpaces) {
        this.tokenizer = tokenizer;
        this.file = file;
        this.addedTokens = addedTokens;
        this.specialIds = specialIds;
        this.vocab = vocab;
        this.specialTokens = specialTokens;
        this.cleanUpSpaces = cleanUpSpaces;
    }

    /** Loads {@code modelDir/tokenizer.json} (and tokenizer_config.json when there). */
    public static HfTokenizer load(Path modelDir) {
        Path file = modelDir.resolve(FILE);
        if (!Files.isRegularFile(file)) {
            throw new TokenizerException(file + ": not found (only fast tokenizers, tokenizer.json, are supported)");
        }
        JsonNode root;
        try {
            root = JSON.readTree(file.toFile());
        } catch (IOException e) {
            throw new TokenizerException(file + ": not valid JSON: " + e.getMessage(), e);
        }
        if (root == null || !root.isObject() || !root.has("model")) {
            throw new TokenizerException(file + ": not a tokenizers file (no 'model' object)");
        }
        Map<String, Integer> added = new HashMap<>();
        Set<Integer> special = new LinkedHashSet<>();
        for (JsonNode t : root.path("added_tokens")) {
            added.put(t.path("content").asText(), t.path("id").asInt());
            if (t.path("special").asBoolean(false)) special.add(t.path("id").asInt());
        }
        Map<String, Integer> vocab = new HashMap<>();
        JsonNode v = root.path("model").path("vocab");
        if (v.isObject()) {
            v.fields().forEachRemaining(e -> vocab.put(e.getKey(), e.getValue().asInt()));
        } else if (v.isArray()) {                           // Unigram: [[piece, score], ...], id = position
            for (int i = 0; i < v.size(); i++) vocab.put(v.get(i).path(0).asText(), i);
        }
        Map<String, String> names = new HashMap<>();
        boolean cleanUp = false;
        Path config = modelDir.resolve(CONFIG_FILE);
        if (Files.isRegularFile(config)) {
            JsonNode c;
            try {
                c = JSON.readTree(config.toFile());
            } catch (IOException e) {
                throw new TokenizerException(config + ": not valid JSON: " + e.getMessage(), e);
            }
            for (String key : new String[]{"bos_token", "eos_token", "unk_token", "pad_token"}) {
                String name = tokenName(c.get(key));
                if (name != null) names.put(key, name);
            }
            cleanUp = c.path("clean_up_tokenization_spaces").asBoolean(false);
        }
        HuggingFaceTokenizer djl;
        try {
            djl = HuggingFaceTokenizer.builder().optTokenizerPath(file).optAddSpecialTokens(true)
                    .optTruncation(false).optPadding(false).build();
        } catch (IOException | RuntimeException e) {
            throw new TokenizerException(file + ": the tokenizers library cannot load it: " + e.getMessage(), e);
        }
        return new HfTokenizer(djl, file, added, special, vocab, names, cleanUp);
    }

    /** tokenizer_config.json writes a token as a string or as a serialized AddedToken {"content": ...}. */
    private static String tokenName(JsonNode n) {
        if (n == null || n.isNull()) return null;
        if (n.isTextual()) return n.asText();
        if (n.isObject() && n.has("content")) return n.get("content").asText();
        return null;
    }

    /** Token ids of {@code text} with the post-processor's special tokens (what {@code tokenizer(text)} returns). */
    public long[] encode(String text) {
        return tokenizer.encode(text, true, false).getIds();
    }

    /** Token ids without the post-processor's special tokens (added tokens in the text are still matched). */
    public long[] encodeWithoutSpecialTokens(String text) {
        return tokenizer.encode(text, false, false).getIds();
    }

    /**
     * transformers' {@code decode(ids, skip_special_tokens)}: the tokenizers decoder, then clean_up_tokenization
     * when tokenizer_config.json asks for it.
     */
    public String decode(long[] ids, boolean skipSpecialTokens) {
        String s = tokenizer.decode(ids, skipSpecialTokens);
        return cleanUpSpaces ? cleanUpTokenization(s) : s;
    }

    /** transformers' clean_up_tokenization: no space before punctuation and English contractions. */
    static String cleanUpTokenization(String s) {
        return s.replace(" .", ".").replace(" ?", "?").replace(" !", "!").replace(" ,", ",").replace(" ' ", "'")
                .replace(" n't", "n't").replace(" 'm", "'m").replace(" 's", "'s").replace(" 've", "'ve").replace(" 're", "'re");
    }

    /** The id of a token string (added/special tokens first, then the model vocabulary). */
    public int tokenId(String token) {
        OptionalInt id = findTokenId(token);
        if (id.isEmpty()) throw new TokenizerException(file + ": no token '" + token + "' in added_tokens or the vocabulary");
        return id.getAsInt();
    }

    public OptionalInt findTokenId(String token) {
        Integer id = addedTokens.get(token);
        if (id == null) id = vocab.get(token);
        return id == null ? OptionalInt.empty() : OptionalInt.of(id);
    }

    /** Ids of the tokens tokenizer.json marks special (skipped by {@code decode(ids, true)}). */
    public Set<Integer> specialTokenIds() {
        return Collections.unmodifiableSet(specialIds);
    }

    /**
     * tokenizer_config.json's special-token names (bos_token, eos_token, unk_token, pad_token; absent ones left
     * out): the chat template sees them as variables.
     */
    public Map<String, String> specialTokens() {
        return Collections.unmodifiableMap(specialTokens);
    }

    /** eos_token's id, if tokenizer_config.json names one. */
    public OptionalInt eosTokenId() {
        String eos = specialTokens.get("eos_token");
        return eos == null ? OptionalInt.empty() : findTokenId(eos);
    }

    /** bos_token's id, if tokenizer_config.json names one. */
    public OptionalInt bosTokenId() {
        String bos = specialTokens.get("bos_token");
        return bos == null ? OptionalInt.empty() : findTokenId(bos);
    }

    public Path file() {
        return file;
    }

    @Override
    public void close() {
        tokenizer.close();
    }
}
