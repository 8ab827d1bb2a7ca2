package org.mha2mla.evaluation.benchmarks.data;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.evaluation.benchmarks.Doc;
import org.mha2mla.evaluation.benchmarks.TestParquet;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Base64;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class MmBenchTsvTest {
    /** pandas read_csv(sep="\t") quoting: a quoted cell may hold tabs, newlines and doubled quotes. */
    @Test
    void parsesPandasQuoting() {
        List<List<String>> rows = MmBenchTsv.parse("a\tb\tc\r\n\"x\ty\"\t\"say \"\"hi\"\"\nbye\"\tmid\"quote\n\t\t\n");
        assertEquals(List.of(List.of("a", "b", "c"), List.of("x\ty", "say \"hi\"\nbye", "mid\"quote"), List.of("", "", "")), rows);
    }

    @Test
    void readsRowsLikeTheHubSplit(@TempDir Path dir) throws IOException {
        byte[] png = TestParquet.png(3);
        String b64 = Base64.getEncoder().encodeToString(png);
        String tsv = "index\tquestion\thint\tA\tB\tC\tD\tanswer\tcategory\timage\tsource\tl2-category\tcomment\tsplit\n"
                + "3\tWhat?\t\tcat\tdog\t\t\tA\tobject\t" + b64 + "\tsrc\tperception\tnan\tdev\n"
                + "1000003\tWhat?\t\tdog\tcat\t\t\tB\tobject\t3\tsrc\tperception\tnan\tdev\n";
        Path file = dir.resolve("MMBench_DEV_EN.tsv");
        Files.writeString(file, tsv);
        List<Doc> docs = MmBenchTsv.read(file, true);
        assertEquals(2, docs.size());
        Doc main = docs.get(0);
        assertTrue(main.fields().get("index").isIntegralNumber());
        assertEquals(3, main.fields().get("index").intValue());
        assertTrue(main.fields().get("hint").isNull());
        assertTrue(main.fields().get("C").isNull());
        assertEquals("nan", main.fields().get("comment").asText());
        assertEquals("perception", main.fields().get("L2-category").asText());
        assertArrayEquals(png, main.images().get(0));
        assertArrayEquals(png, docs.get(1).images().get(0));
        assertEquals(0, docs.get(1).fields().get("image").get("image_index").intValue());
        assertTrue(MmBenchTsv.read(file, false).get(1).images().isEmpty());
    }

    @Test
    void danglingImageReferenceIsAnError(@TempDir Path dir) throws IOException {
        Path file = dir.resolve("bad.tsv");
        Files.writeString(file, "index\tquestion\timage\n1000009\tq\t9\n");
        IOException e = assertThrows(IOException.class, () -> MmBenchTsv.read(file, true));
        assertTrue(e.getMessage().contains("index 9"), e.getMessage());
        assertSame(IOException.class, e.getClass());
    }
}
