package org.mha2mla.evaluation.run;

import java.nio.file.Path;

import org.mha2mla.evaluation.benchmarks.ModelFamily;
import org.mha2mla.layers.generation.CachePolicy;

/**
 * One evaluation run's settings.
 *
 * @param model    the model folder (recorded in results.json; the model itself is passed to the {@link Evaluator})
 * @param family   the lmms-eval wrapper whose prompts and generation defaults apply
 * @param dataRoot where the task datasets are ({@link TaskData})
 * @param out      where results.json, results.md, predictions/ and samples/ go
 * @param limit    the first {@code limit} docs of each task, or 0 for all (lmms-eval's {@code --limit})
 * @param maxNewTokens 0 for each task's own max_new_tokens, else this budget for every task (lmms-eval's
 *                 {@code --gen_kwargs max_new_tokens=N}, e.g. for quick runs)
 * @param policy   how generation keeps its cache
 * @param progress show a progress bar on stderr
 */
public record EvalOptions(Path model, ModelFamily family, Path dataRoot, Path out, int limit, int maxNewTokens,
                          CachePolicy policy, boolean progress) {

    public EvalOptions {
        if (limit < 0) throw new IllegalArgumentException("--limit must be ≥ 0, got " + limit);
        if (maxNewTokens < 0) throw new IllegalArgumentException("--max-new-tokens must be ≥ 0, got " + maxNewTokens);
        if (policy == null) policy = CachePolicy.FULL;
    }

    /** The token budget of a task whose own is {@code taskMaxNewTokens}. */
    public int maxNewTokens(int taskMaxNewTokens) {
        return maxNewTokens > 0 ? maxNewTokens : taskMaxNewTokens;
    }
}
