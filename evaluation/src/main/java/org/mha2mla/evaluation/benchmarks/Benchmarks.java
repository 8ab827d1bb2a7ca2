package org.mha2mla.evaluation.benchmarks;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;

import org.mha2mla.evaluation.synthetic.SyntheticShapes;

/**
 * The benchmarks of the paper's tables, by lmms-eval task name, and the embedded demo's {@code synthetic_shapes}
 * (so {@code mha2mla eval} can re-score a demo variant by hand; it is in no table, so not in {@link #names()}).
 */
public final class Benchmarks {
    private static final Map<String, Supplier<Benchmark>> ALL = new LinkedHashMap<>();
    private static final Map<String, Supplier<Benchmark>> DEMO = Map.of(SyntheticShapes.NAME, SyntheticShapes::new);

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
        Supplier<Benchmark> b = ALL.containsKey(task) ? ALL.get(task) : DEMO.get(task);
        if (b == null) {
            throw new IllegalArgumentException("unknown task '" + task + "'; known: " + names() + " and the demo's " + DEMO.keySet());
        }
        return b.get();
    }
}
