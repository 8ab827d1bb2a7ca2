package org.mha2mla.cli.fuzz;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.trainer.LossMask;
import org.mha2mla.trainer.data.ChatExampleEncoder;
import org.mha2mla.trainer.data.InstructDataset;
import org.mha2mla.trainer.data.InstructSample;
import org.mha2mla.trainer.data.ModelProcessor;
import org.mha2mla.trainer.data.TrainingExample;
import org.mha2mla.fixtures.Fixtures;

/**
 * LLaVA-instruct training / calibration data with values of other types, keys removed, turns reordered or
 * duplicated, roles and image marks changed, image paths pointing nowhere or at a folder, and the text cut or
 * flipped; read by {@link InstructDataset} and encoded through the llava fixture's own processor. An accepted sample
 * alternates human and gpt turns, has string values, and encodes to ids and labels of one length whose labels are
 * either ignored or the token itself.
 */
class InstructDataFuzzTest {

    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory F = JsonNodeFactory.instance;
    private static final Path LLAVA = Fixtures.hf("llava");

    @TempDir
    Path tmp;

    @Test
    void mutatedDataIsRefusedClearlyOrEncodedConsistently() throws Exception {
        Files.copy(LLAVA.resolve("image0.png"), tmp.resolve("image0.png"));
        Files.createDirectories(tmp.resolve("a-folder.png"));
        Path file = tmp.resolve("data.json");
        String base = """
                [{"id": "a", "image": "image0.png", "conversations": [
                   {"from": "human", "value": "<image>\\nWhat is the color of the square?"}, {"from": "gpt", "value": "red"},
                   {"from": "human", "value": "And its shape?"}, {"from": "gpt", "value": "a square"}]},
                 {"id": "b", "conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Say hello."},
                   {"from": "gpt", "value": "hello"}]},
                 {"id": "c", "image": ["image0.png"], "conversations": [
                   {"from": "human", "value": "Describe it.\\n<image>"}, {"from": "gpt", "value": "a red square"}]}]
                """;
        // A refusal names the data file, or the record (sample id) whose image or marks are wrong.
        Fuzz fuzz = new Fuzz("instruct data", line -> line.contains(file.toString()) || line.contains("sample '"));
        Random r = Fuzz.random("instruct data");
        try (ModelProcessor processor = ModelProcessor.load(LLAVA)) {
            ChatExampleEncoder encoder = new ChatExampleEncoder(processor);
            int n = Fuzz.cases(400);
            for (int i = 0; i < n; i++) {
                String text = r.nextInt(8) == 0 ? mutateText(base, r) : mutateTree(base, r);
                Files.writeString(file, text);
                fuzz.check("case " + i, () -> {
                    InstructDataset data = InstructDataset.load(file, null, 0);
                    for (InstructSample s : data.samples()) {
                        checkTurns(s);
                        TrainingExample ex = encoder.encode(s, data.imageRoot());
                        long[] ids = ex.input().inputIds();
                        assertEquals(ids.length, ex.labels().length);
                        for (int t = 0; t < ids.length; t++) {
                            assertTrue(ex.labels()[t] == LossMask.IGNORE_INDEX || ex.labels()[t] == ids[t], "label " + t);
                        }
                    }
                }, file);
            }
        }
        fuzz.finish();
    }

    private static void checkTurns(InstructSample s) {
        List<LossMask.Message> m = s.messages();
        int start = m.get(0).role().equals(LossMask.SYSTEM) ? 1 : 0;
        for (int k = start; k < m.size(); k++) {
            assertEquals((k - start) % 2 == 0 ? LossMask.USER : LossMask.ASSISTANT, m.get(k).role(), "turn " + k);
            assertTrue(m.get(k).content() != null);
        }
    }

    private static final String[] ROLES = {"human", "gpt", "system", "user", "assistant", "robot", "", "GPT"};

    static JsonNode value(Random r) throws Exception {
        return switch (r.nextInt(9)) {
            case 0 -> F.nullNode();
            case 1 -> F.numberNode(r.nextInt(100) - 50);
            case 2 -> F.booleanNode(true);
            case 3 -> JSON.readTree("{\"text\": \"red\"}");
            case 4 -> JSON.readTree("[\"image0.png\", \"image0.png\"]");
            case 5 -> F.textNode(new String[] {"missing.png", "a-folder.png", "../../../etc/passwd", "", "image0.png"}[r.nextInt(5)]);
            case 6 -> F.textNode("<image>\n<image> two marks");
            case 7 -> F.textNode("{{ raise_exception('X') }}{% for i in range(300) %}Z{% endfor %}");
            default -> F.textNode("x".repeat(r.nextInt(3000)));
        };
    }

    /** One to three edits of records, keys, turns, roles and values. */
    static String mutateTree(String base, Random r) throws Exception {
        ArrayNode records = (ArrayNode) JSON.readTree(base);
        for (int edits = 1 + r.nextInt(3); edits > 0; edits--) {
            if (!(records.get(r.nextInt(records.size())) instanceof ObjectNode rec)) continue;
            ArrayNode turns = rec.get("conversations") instanceof ArrayNode a ? a : rec.putArray("conversations");
            switch (r.nextInt(10)) {
                case 0 -> rec.set(new String[] {"id", "image", "conversations"}[r.nextInt(3)], value(r));
                case 1 -> rec.remove(new String[] {"id", "image", "conversations"}[r.nextInt(3)]);
                case 2 -> {
                    if (turns.size() > 1) {
                        int a = r.nextInt(turns.size());
                        int b = r.nextInt(turns.size());
                        JsonNode t = turns.get(a);
                        turns.set(a, turns.get(b));
                        turns.set(b, t);
                    }
                }
                case 3 -> {
                    if (!turns.isEmpty()) turns.add(turns.get(r.nextInt(turns.size())).deepCopy());
                }
                case 4 -> {
                    if (!turns.isEmpty() && turns.get(r.nextInt(turns.size())) instanceof ObjectNode t) t.put("from", ROLES[r.nextInt(ROLES.length)]);
                }
                case 5, 6 -> {
                    if (!turns.isEmpty() && turns.get(r.nextInt(turns.size())) instanceof ObjectNode t) t.set("value", value(r));
                }
                case 7 -> {
                    if (!turns.isEmpty()) turns.remove(r.nextInt(turns.size()));
                }
                case 8 -> records.add(value(r));
                default -> rec.set("image", value(r));
            }
        }
        return JSON.writeValueAsString(records);
    }

    static String mutateText(String base, Random r) {
        byte[] b = base.getBytes(StandardCharsets.UTF_8);
        if (r.nextBoolean()) return new String(b, 0, r.nextInt(b.length), StandardCharsets.UTF_8);
        for (int k = 1 + r.nextInt(4); k > 0; k--) b[r.nextInt(b.length)] = (byte) "{}[],:\"x0 \\".charAt(r.nextInt(10));
        return new String(b, StandardCharsets.UTF_8);
    }
}
