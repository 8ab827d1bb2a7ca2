package org.mha2mla.layers.mla;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.partialrope.RopeStrategy;
import org.mha2mla.core.svd.SvdMethod;

class ConversionReportTest {

    static final int[][][] KEPT = {{{0, 3}, {1, 2}}, {{2, 3}, {0, 1}}};

    @Test
    void tableAndJsonCarryEveryLayerWithMissingFiguresAsNull(@TempDir Path tmp) throws Exception {
        Mha2MlaConfig c = new Mha2MlaConfig(Mha2MlaConfig.Step.ALL, RopeStrategy.MKL, 4, 2, SvdMethod.MD, KEPT);
        ConversionReport r = new ConversionReport(c, 5, 100, 60, List.of(
                new ConversionReport.Layer(0, KEPT[0], 1.5e-3, 2.0, 4.0, 2.0, 100.0),
                new ConversionReport.Layer(1, KEPT[1], Double.NaN, 3.0, 3.5, 3.0, 50.0)), 1536, 396);
        assertEquals(0.5, r.layers().get(0).ratio());
        String table = r.table();
        assertTrue(table.contains("0.5000") && table.contains("[0,3] [1,2]") && table.contains("1,536 -> 396"), table);
        assertTrue(table.lines().anyMatch(l -> l.startsWith("1 ") && l.contains(" - ")), table);   // the KL that was not measured
        r.write(tmp.resolve("r.json"));
        JsonNode j = new ObjectMapper().readTree(tmp.resolve("r.json").toFile());
        assertEquals("md", j.get("svd").asText());
        assertEquals(2, j.get("layers").size());
        assertTrue(j.get("layers").get(1).get("attention_kl").isNull());
        assertEquals(3.0 / 3.5, j.get("layers").get(1).get("split_over_joint").asDouble(), 1e-12);
        assertEquals(2, j.get("layers").get(0).get("kept_pairs").get(1).get(1).asInt());
        assertEquals(60, j.get("visual_tokens").asInt());
    }
}
