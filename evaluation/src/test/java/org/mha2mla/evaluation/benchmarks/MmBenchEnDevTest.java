package org.mha2mla.evaluation.benchmarks;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

class MmBenchEnDevTest {
    private final MmBenchEnDev mmb = new MmBenchEnDev();

    /** Prompts (blank line before the instruction, hint rules) and process_results from lmms-eval's code. */
    @Test
    void reproducesLmmsEvalHarness() {
        Fixtures.checkHarnessFixture(mmb);
    }

    /**
     * Per-question hits from lmms-eval's eval_sub_data (judge replaced by "no match = wrong"); overall and
     * category rates recomputed here from those hits.
     */
    @Test
    void aggregateFollowsEvalSubDataHits() {
        JsonNode task = Fixtures.harness("mmbench_en_dev");
        List<ObjectNode> results = new ArrayList<>();
        Map<String, String> categoryOf = new TreeMap<>();
        for (JsonNode c : task.get("cases")) {
            results.add(mmb.result(Doc.of(c.get("doc")), c.get("prediction").asText()));
            categoryOf.put(c.get("doc").get("index").asText(), c.get("doc").get("category").asText());
        }
        ObjectNode a = mmb.aggregate(results);
        JsonNode hits = task.get("hits");
        double sum = 0;
        Map<String, double[]> perCategory = new TreeMap<>();
        for (var it = hits.fields(); it.hasNext(); ) {
            var e = it.next();
            sum += e.getValue().intValue();
            double[] sc = perCategory.computeIfAbsent(categoryOf.get(e.getKey()), k -> new double[2]);
            sc[0] += e.getValue().intValue();
            sc[1]++;
        }
        assertEquals(100.0 * sum / hits.size(), a.get("rule_eval_score").doubleValue(), 1e-12);
        assertEquals(sum / hits.size(), a.get("overall_acc").doubleValue(), 1e-12);
        int unmatched = 0;
        for (JsonNode m : task.get("can_infer")) {
            unmatched += m.get("can_infer").isNull() ? 1 : 0;
        }
        assertEquals(unmatched, a.get("unmatched").intValue());
        perCategory.forEach((k, v) -> assertEquals(v[0] / v[1], a.get("category_acc").get(k).doubleValue(), 1e-12, k));
        assertEquals(perCategory.keySet().stream().toList(), iterToList(a.get("category_acc")));
    }

    @Test
    void loadsHubParquet(@TempDir Path root) throws Exception {
        List<JsonNode> docs = harnessDocs();
        List<byte[]> images = new ArrayList<>();
        for (int i = 0; i < docs.size(); i++) {
            images.add(TestParquet.png(i));
        }
        // lmms-lab/MMBench config en: index, question, hint, answer, A, B, C, D, category, image, source,
        // L2-category, comment, split.
        var schema = TestParquet.schema("index", TestParquet.INT64, "question", TestParquet.STRING, "hint", TestParquet.STRING,
                "answer", TestParquet.STRING, "A", TestParquet.STRING, "B", TestParquet.STRING, "C", TestParquet.STRING,
                "D", TestParquet.STRING, "category", TestParquet.STRING, "image", TestParquet.IMAGE,
                "source", TestParquet.STRING, "L2-category", TestParquet.STRING, "comment", TestParquet.STRING,
                "split", TestParquet.STRING);
        TestParquet.write(root.resolve("en/dev-00000-of-00001.parquet"), schema, docs,
                (i, g) -> TestParquet.image(g, "image", images.get(i), null));
        checkLoaded(mmb.load(root), docs, images);
    }

    /** The official TSV: base64 images, circular rows pointing at their main row's image by index. */
    @Test
    void loadsOfficialTsv(@TempDir Path root) throws Exception {
        List<JsonNode> docs = harnessDocs();
        List<String> columns = List.of("index", "question", "hint", "A", "B", "C", "D", "answer", "category", "image",
                "source", "l2-category", "comment", "split");
        StringBuilder tsv = new StringBuilder(String.join("\t", columns)).append('\n');
        List<byte[]> images = new ArrayList<>();
        for (JsonNode d : docs) {
            long index = d.get("index").longValue();
            byte[] png = TestParquet.png((int) (index % 1_000_000));
            images.add(png);
            List<String> cells = new ArrayList<>();
            for (String col : columns) {
                String field = col.equals("l2-category") ? "L2-category" : col;
                if (col.equals("image")) {
                    cells.add(index >= 1_000_000 ? String.valueOf(index % 1_000_000) : Base64.getEncoder().encodeToString(png));
                } else if (d.get(field) == null || d.get(field).isNull()) {
                    cells.add("");
                } else {
                    cells.add(d.get(field).asText());
                }
            }
            tsv.append(String.join("\t", cells)).append('\n');
        }
        Path file = root.resolve("MMBench_DEV_EN.tsv");
        Files.writeString(file, tsv, StandardCharsets.UTF_8);
        // An empty TSV cell is NaN to pandas, None on the hub: the empty-string option C of row 9 and
        // the empty hint of row 10 become null, so compare against docs with that substitution.
        List<JsonNode> expected = new ArrayList<>();
        for (JsonNode d : docs) {
            ObjectNode e = d.deepCopy();
            e.fields().forEachRemaining(f -> {
                if (f.getValue().isTextual() && f.getValue().asText().isEmpty()) {
                    f.setValue(Fixtures.JSON.nullNode());
                }
            });
            expected.add(e);
        }
        checkLoaded(mmb.load(root), expected, images);
        assertEquals(docs.size(), mmb.load(file).size());
    }

    private void checkLoaded(List<Doc> loaded, List<JsonNode> docs, List<byte[]> images) {
        assertEquals(docs.size(), loaded.size());
        for (int i = 0; i < docs.size(); i++) {
            Doc got = loaded.get(i);
            for (var it = docs.get(i).fields(); it.hasNext(); ) {
                var e = it.next();
                Fixtures.assertJsonEquals(e.getValue(), got.fields().get(e.getKey()), 0.0, "row " + i + " " + e.getKey());
            }
            assertArrayEquals(images.get(i), got.images().get(0), "row " + i + " image");
            assertEquals(mmb.prompt(Doc.of(docs.get(i)), ModelFamily.LLAVA), mmb.prompt(got, ModelFamily.LLAVA));
        }
    }

    private static List<JsonNode> harnessDocs() {
        List<JsonNode> docs = new ArrayList<>();
        for (JsonNode c : Fixtures.harness("mmbench_en_dev").get("cases")) {
            ObjectNode d = c.get("doc").deepCopy();
            d.put("comment", "nan");
            docs.add(d);
        }
        return docs;
    }

    private static List<String> iterToList(JsonNode object) {
        List<String> names = new ArrayList<>();
        object.fieldNames().forEachRemaining(names::add);
        return names;
    }
}
