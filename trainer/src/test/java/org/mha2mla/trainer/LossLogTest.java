package org.mha2mla.trainer;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class LossLogTest {

    @TempDir
    Path tmp;

    private static LossLog.Row row(long step) {
        return new LossLog.Row(step, 5.0 / step, 1e-4 * step, 0.5, 100, 250.0, step * 0.4);
    }

    @Test
    void writesCsvRowsAndResumesFromAStep() throws IOException {
        Path csv = tmp.resolve("run/loss.csv");
        try (LossLog log = LossLog.open(csv, 0)) {
            for (long s = 1; s <= 5; s++) log.append(row(s));
        }
        List<String> lines = Files.readAllLines(csv);
        assertEquals(LossLog.HEADER, lines.get(0));
        assertEquals("2,2.50000000,2.000000e-04,5.000000e-01,100,250.00,0.800", lines.get(2));
        try (LossLog log = LossLog.open(csv, 3)) {
            assertEquals(3, log.rows().size());
            assertEquals(row(3).csv(), log.rows().get(2).csv());   // rows read back carry the CSV precision
            log.append(row(4));
        }
        lines = Files.readAllLines(csv);
        assertEquals(5, lines.size());
        assertEquals(row(4).csv(), lines.get(4));
        try (LossLog log = LossLog.open(csv, 0)) {
            assertEquals(0, log.rows().size());
        }
        assertEquals(List.of(LossLog.HEADER), Files.readAllLines(csv));
    }
}
