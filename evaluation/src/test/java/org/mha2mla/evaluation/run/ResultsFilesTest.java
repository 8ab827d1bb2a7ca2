package org.mha2mla.evaluation.run;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.junit.jupiter.api.Test;
import org.mha2mla.evaluation.benchmarks.ModelFamily;
import org.mha2mla.layers.generation.Budget;
import org.mha2mla.layers.generation.CachePolicy;
import org.mha2mla.layers.generation.KvQuantization;
import org.mha2mla.layers.generation.TovaPruning;

class ResultsFilesTest {

    private static final ObjectMapper JSON = new ObjectMapper();

    private static TaskResult result(String task, ObjectNode aggregate, double kv) {
        return new TaskResult(task, 10, 100, 10, aggregate, kv, 1536, 1.5, JSON.createObjectNode());
    }

    @Test
    void lmmsEvalLayoutWithCacheFigures() {
        EvalOptions o = EvalOptions.builder(Path.of("/models/demo"), Path.of("/data"), Path.of("/out")).family(ModelFamily.QWEN2_5_VL)
                .limit(10).policy(new CachePolicy(KvQuantization.of(4), new TovaPruning(Budget.fraction(0.5)))).build();
        ObjectNode pope = JSON.createObjectNode().put("pope_accuracy", 0.8).put("pope_f1_score", 0.75);
        ObjectNode ai2d = JSON.createObjectNode().put("exact_match", 0.5);
        ObjectNode r = ResultsFiles.resultsJson(List.of(result("pope", pope, 400), result("ai2d", ai2d, 384)), o);
        assertEquals(0.8, r.at("/results/pope/pope_accuracy,none").doubleValue());
        assertEquals(0.5, r.at("/results/ai2d/exact_match,flexible-extract").doubleValue());
        assertEquals("lmms-lab/POPE", r.at("/configs/pope/dataset_path").asText());
        assertEquals(128, r.at("/configs/pope/generation_kwargs/max_new_tokens").intValue());
        assertEquals(16, r.at("/configs/ai2d/generation_kwargs/max_new_tokens").intValue());
        assertEquals(100, r.at("/n-samples/ai2d/original").intValue());
        assertEquals(10, r.at("/n-samples/ai2d/effective").intValue());
        assertEquals(400.0, r.at("/kv_bytes_per_token/pope/held").doubleValue());
        assertEquals(1536, r.at("/kv_bytes_per_token/pope/float32_full").longValue());
        assertEquals("qwen2_5_vl", r.at("/config/model").asText());
        assertEquals("pretrained=/models/demo", r.at("/config/model_args").asText());
        assertEquals("tova-0.5+int4-g64-r128", r.at("/config/cache_policy").asText());
        assertEquals(4, r.at("/config/kv_quantization/bits").intValue());
        assertEquals("tova-0.5", r.at("/config/kv_pruning").asText());

        String md = ResultsFiles.markdown(List.of(result("pope", pope, 400)), o);
        assertTrue(md.contains("| pope | none | 10 | pope_accuracy | 0.8000 | 400.0 | 26.0% |"), md);
        assertTrue(md.contains("|  |  |  | pope_f1_score | 0.7500 |  |  |"), md);
    }
}
