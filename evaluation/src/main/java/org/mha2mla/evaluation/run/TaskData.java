package org.mha2mla.evaluation.run;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.mha2mla.evaluation.synthetic.SyntheticShapes;

/**
 * Where each task's local dataset copy sits under {@code --data-root}: a folder named after the task
 * ({@code pope}) or after its hub repository ({@code POPE}, what {@code huggingface-cli download lmms-lab/POPE
 * --repo-type dataset --local-dir DATA_ROOT/POPE} leaves). Inside, the benchmark finds its split's files
 * ({@code Benchmark.stream}).
 */
public final class TaskData {

    /** The hub dataset each lmms-eval task reads. */
    public static final Map<String, String> HUB_DATASETS = Map.of(
            "ai2d", "lmms-lab/ai2d",
            "gqa", "lmms-lab/GQA",
            "pope", "lmms-lab/POPE",
            "seedbench", "lmms-lab/SEED-Bench",
            "realworldqa", "lmms-lab/RealWorldQA",
            "mmbench_en_dev", "lmms-lab/MMBench",
            "chartqa", "lmms-lab/ChartQA",
            "docvqa_val", "lmms-lab/DocVQA");

    private TaskData() {
    }

    /**
     * The folder (or, for MMBench, a folder or .tsv file) holding {@code task}'s data under {@code root}. The demo's
     * {@code synthetic_shapes} is also found at {@code root} itself, the demo's {@code data} folder with its test.json.
     */
    public static Path locate(Path root, String task) {
        List<Path> tried = new ArrayList<>();
        tried.add(root.resolve(task));
        String hub = HUB_DATASETS.get(task);
        if (hub != null) tried.add(root.resolve(hub.substring(hub.indexOf('/') + 1)));
        for (Path p : tried) {
            if (Files.isDirectory(p) || (Files.isRegularFile(p) && p.toString().endsWith(".tsv"))) return p;
        }
        if (task.equals(SyntheticShapes.NAME) && Files.isRegularFile(root.resolve("test.json"))) return root;
        throw new IllegalArgumentException(task + ": no dataset under " + root + " (looked for "
                + tried.stream().map(p -> p.getFileName().toString()).toList() + (hub == null ? "" : ", a copy of " + hub) + ")");
    }
}
