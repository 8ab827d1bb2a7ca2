package org.mha2mla.evaluation.benchmarks;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

/** The benchmarks of the paper's tables, by lmms-eval task name. */
public final class Benchmarks {
    private static final Map<String, Supplier<Benchmark>> ALL = new LinkedHashMap<>();

    static {
        ALL.put("ai2d", Ai2d::new);
        ALL.put("gqa", Gqa::new);
        ALL.put("pope", Pope::new);
        ALL.put("seedbench", SeedBenchImg::new);
        ALL.put("realworldqa", RealWorldQa::new);
        ALL.put("mmbench_en_dev", MmBenchEnDev::new);
        ALL.put("chartqa", ChartQa::new);
        ALL.put("docvqa_val", DocVqaVal::new);
    }

    private Benchmarks() {
    }

    /** Task names in the order of the paper's tables. */
    public static List<String> names() {
        return List.copyOf(ALL.keySet());
    }

    public static Benchmark byName(String task) {
        Supplier<Benchmark> b = ALL.get(task);
        if (b == null) {
            throw new IllegalArgumentException("unknown task '" + task + "'; known: " + names());
        }
        return b.get();
    }
}
