package org.mha2mla.trainer.pretrain;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Pattern;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;

/**
 * A Hugging Face {@code tokenizer.json} (tokenizers' serialisation, read by DJL's HuggingFaceTokenizer and by
 * transformers) for a model made from scratch on a closed vocabulary: a {@code WordLevel} model, one id per word.
 *
 * <p>Ids 0–7 are Qwen2.5-VL's special tokens in the order of the tiny test fixture ({@code <|endoftext|>} = bos and
 * pad, {@code <|im_end|>} = eos, the vision marks and pads), then {@code <unk>}, the newline (the chat template's
 * line breaks are real tokens, as in Qwen's byte-level BPE) and the words. The text is lower-cased and split into
 * newlines, runs of letters/digits and single punctuation marks; spaces are dropped. No post-processor: Qwen adds
 * no BOS. Decoding joins words with spaces (tokenizers' WordPiece decoder with cleanup, which also glues
 * punctuation back: "red ?" → "red?").
 */
public final class WordLevelTokenizer {

    public static final String ENDOFTEXT = "<|endoftext|>";
    public static final String IM_START = "<|im_start|>";
    public static final String IM_END = "<|im_end|>";
    public static final String VISION_START = "<|vision_start|>";
    public static final String VISION_END = "<|vision_end|>";
    public static final String VISION_PAD = "<|vision_pad|>";
    public static final String IMAGE_PAD = "<|image_pad|>";
    public static final String VIDEO_PAD = "<|video_pad|>";
    public static final String UNK = "<unk>";
    public static final String NEWLINE = "\n";

    /** Special tokens by id (0 … 7), then {@link #UNK} (8). */
    public static final List<String> SPECIAL = List.of(ENDOFTEXT, IM_START, IM_END, VISION_START, VISION_END, VISION_PAD,
            IMAGE_PAD, VIDEO_PAD, UNK);
    public static final int ENDOFTEXT_ID = 0;
    public static final int IM_END_ID = 2;
    public static final int VISION_START_ID = 3;
    public static final int VISION_END_ID = 4;
    public static final int IMAGE_PAD_ID = 6;
    public static final int VIDEO_PAD_ID = 7;
    /** The vision_token_id of Qwen2.5-VL's config (its {@code <|vision_pad|>}). */
    public static final int VISION_PAD_ID = 5;

    /** What one pre-tokenized piece is: a newline, a run of letters/digits, or one other visible character. */
    static final String PIECE = "\\n|[a-z0-9]+|[^\\sa-z0-9]";
    private static final Pattern WORD = Pattern.compile("[a-z0-9]+|[^\\sa-z0-9]");

    private final List<String> tokens;

    private WordLevelTokenizer(List<String> tokens) {
        this.tokens = List.copyOf(tokens);
    }

    /**
     * The vocabulary: the special tokens, the newline, then {@code words} in order (duplicates dropped). A word
     * must be one piece of the pre-tokenizer (lower case letters/digits, or one punctuation mark), or the
     * tokenizer could never produce it.
     */
    public static WordLevelTokenizer of(List<String> words) {
        List<String> out = new ArrayList<>(SPECIAL);
        out.add(NEWLINE);
        for (String w : words) {
            if (!WORD.matcher(w).matches()) {
                throw new IllegalArgumentException("vocabulary word '" + w + "' is not one lower-case word or punctuation mark");
            }
            if (!out.contains(w)) out.add(w);
        }
        return new WordLevelTokenizer(out);
    }

    /** Tokens by id. */
    public List<String> tokens() {
        return tokens;
    }

    public int size() {
        return tokens.size();
    }

    public int id(String token) {
        int i = tokens.indexOf(token);
        if (i < 0) throw new IllegalArgumentException("'" + token + "' is not in the vocabulary");
        return i;
    }

    /** tokenizer.json. */
    public ObjectNode json() {
        ObjectMapper om = new ObjectMapper();
        ObjectNode root = om.createObjectNode();
        root.put("version", "1.0");
        root.putNull("truncation");
        root.putNull("padding");
        ArrayNode added = root.putArray("added_tokens");
        for (int i = 0; i < SPECIAL.size(); i++) {
            added.addObject().put("id", i).put("content", SPECIAL.get(i)).put("single_word", false).put("lstrip", false)
                    .put("rstrip", false).put("normalized", false).put("special", true);
        }
        root.putObject("normalizer").put("type", "Lowercase");
        // invert: the pattern matches the pieces kept; what lies between them (spaces) is removed.
        ObjectNode split = root.putObject("pre_tokenizer");
        split.put("type", "Split");
        split.putObject("pattern").put("Regex", PIECE);
        split.put("behavior", "Removed").put("invert", true);
        root.putNull("post_processor");
        root.putObject("decoder").put("type", "WordPiece").put("prefix", "##").put("cleanup", true);
        ObjectNode model = root.putObject("model");
        model.put("type", "WordLevel");
        Map<String, Integer> vocab = new LinkedHashMap<>();
        for (int i = 0; i < tokens.size(); i++) vocab.put(tokens.get(i), i);
        ObjectNode v = model.putObject("vocab");
        vocab.forEach(v::put);
        model.put("unk_token", UNK);
        return root;
    }
}
