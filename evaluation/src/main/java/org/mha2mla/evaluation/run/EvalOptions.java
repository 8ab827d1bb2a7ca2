package org.mha2mla.evaluation.run;

import java.nio.file.Path;

import org.mha2mla.evaluation.benchmarks.ModelFamily;
import org.mha2mla.importers.config.HfConfigParser;
import org.mha2mla.layers.generation.CachePolicy;

/**
 * One evaluation run's settings; build them by name with {@link #builder(Path, Path, Path)}:
 * <pre>
 *   EvalOptions.builder(modelDir, dataRoot, outDir).limit(50).policy(CachePolicy.FULL).build();
 * </pre>
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

    /**
     * Options for evaluating the folder {@code model} on the tasks under {@code dataRoot}, results into {@code out}; the
     * family is the one lmms-eval uses for the folder's config.json {@code model_type} unless {@link Builder#family} says.
     */
    public static Builder builder(Path model, Path dataRoot, Path out) {
        return new Builder(model, dataRoot, out);
    }

    /** Named settings with defaults: every doc, each task's own token budget, the full cache, no progress bar. */
    public static final class Builder {
        private final Path model;
        private final Path dataRoot;
        private final Path out;
        private ModelFamily family;
        private int limit;
        private int maxNewTokens;
        private CachePolicy policy = CachePolicy.FULL;
        private boolean progress;

        private Builder(Path model, Path dataRoot, Path out) {
            this.model = model;
            this.dataRoot = dataRoot;
            this.out = out;
        }

        /** The lmms-eval wrapper (default: {@link ModelFamily#forModelType} of the folder's model_type). */
        public Builder family(ModelFamily family) {
            this.family = family;
            return this;
        }

        /** The first {@code limit} docs of each task; 0 (default) for all. */
        public Builder limit(int limit) {
            this.limit = limit;
            return this;
        }

        /** One token budget for every task; 0 (default) for each task's own. */
        public Builder maxNewTokens(int maxNewTokens) {
            this.maxNewTokens = maxNewTokens;
            return this;
        }

        /** How generation keeps its cache (default {@link CachePolicy#FULL}). */
        public Builder policy(CachePolicy policy) {
            this.policy = policy;
            return this;
        }

        /** Show a progress bar on stderr (default off). */
        public Builder progress(boolean progress) {
            this.progress = progress;
            return this;
        }

        public EvalOptions build() {
            ModelFamily f = family != null ? family : ModelFamily.forModelType(HfConfigParser.read(model).modelType());
            return new EvalOptions(model, f, dataRoot, out, limit, maxNewTokens, policy, progress);
        }
    }

    /** The token budget of a task whose own is {@code taskMaxNewTokens}. */
    public int maxNewTokens(int taskMaxNewTokens) {
        return maxNewTokens > 0 ? maxNewTokens : taskMaxNewTokens;
    }
}
