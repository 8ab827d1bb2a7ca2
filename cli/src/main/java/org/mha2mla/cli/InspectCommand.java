package org.mha2mla.cli;

import org.mha2mla.core.config.Mha2MlaConfig;
import org.mha2mla.core.config.TextConfig;
import org.mha2mla.core.config.VlmConfig;
import org.mha2mla.core.kv.KvCacheAccounting;
import org.mha2mla.importers.ModelInspector;
import org.mha2mla.importers.family.FamilySpecs;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;

@Command(name = "inspect", mixinStandardHelpOptions = true,
        description = "Architecture, parameter counts, attention shape and KV-cache bytes per token of a model folder.")
final class InspectCommand implements Callable<Integer> {

    @Parameters(index = "0", paramLabel = "DIR", description = "Hugging Face model folder.")
    Path dir;

    @Override
    public Integer call() {
        ModelInspector.Summary s = ModelInspector.inspect(dir);
        VlmConfig c = s.config();
        TextConfig t = c.textConfig();
        System.out.printf("model_type        %s%n", c.modelType());
        System.out.printf("vision tower      %s%n", FamilySpecs.of(c).describeVision(c));
        String attention = t.numKeyValueHeads() == t.numAttentionHeads() ? "MHA" : "GQA";
        System.out.printf("language model    %s: %d layers, hidden %d, %d heads, %d KV heads (%s), head dim %d, %s theta %.0f%n",
                t.modelType(), t.numHiddenLayers(), t.hiddenSize(), t.numAttentionHeads(), t.numKeyValueHeads(), attention,
                t.headDim(), t.isMrope() ? "M-RoPE " + java.util.Arrays.toString(t.mropeSection()) : "RoPE", t.ropeTheta());
        for (Map.Entry<String, Long> e : s.parametersByComponent().entrySet()) {
            System.out.printf("parameters        %-15s %,d%n", e.getKey(), e.getValue());
        }
        System.out.printf("parameters        %-15s %,d (stored as %s)%n", "total", s.totalParameters(), s.parametersByDtype().keySet());
        for (String w : s.audit().warnings(s.weights(), c)) System.err.println("mha2mla: warning: " + w);
        Mha2MlaConfig m = s.conversion();
        if (m != null) {
            System.out.printf("mha2mla           step %s, partial RoPE %s with d_r %d%s%n", m.step().id(), m.strategy().id(), m.ropeDim(),
                    m.isMla() ? String.format(", MLA d_kv %d per KV head, %s (--svd %s)%s", m.dKv(), m.svd().label(), m.svd().id(),
                            m.decoupled() ? " (modality-decoupled)" : "") : " (full K/V cache)");
        }
        if (m == null || !m.isMla()) {
            long values = 2L * t.numKeyValueHeads() * t.headDim() * t.numHiddenLayers();
            System.out.printf("KV cache / token  %,d values = %,d bytes at 16-bit (%,d at float32)%n", values, 2 * values, 4 * values);
            return 0;
        }
        KvCacheAccounting.Report r = KvCacheAccounting.report(t.numHiddenLayers(), t.numAttentionHeads(), t.numKeyValueHeads(),
                t.headDim(), m.dKv(), m.ropeDim(), 2, m.decoupled());
        long values = r.mlaValuesPerLayer() * t.numHiddenLayers();
        System.out.printf("KV cache / token  %,d values = %,d bytes at 16-bit (%,d at float32)%s%n", values, 2 * values, 4 * values,
                r.modalityTagBytesPerToken() > 0 ? " + " + r.modalityTagBytesPerToken() + " modality byte" : "");
        System.out.printf(java.util.Locale.ROOT, "KV reduction      %.2f%% vs the original cache, %.2f%% vs the MHA-equivalent%n",
                r.reductionVsOriginal(), r.reductionVsMhaEquivalent());
        return 0;
    }
}
