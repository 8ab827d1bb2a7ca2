package org.mha2mla.evaluation.run;

import org.mha2mla.core.Limits;

import java.util.Locale;

import org.mha2mla.layers.generation.Budget;
import org.mha2mla.layers.generation.CachePolicy;
import org.mha2mla.layers.generation.CachePruning;
import org.mha2mla.layers.generation.H2oPruning;
import org.mha2mla.layers.generation.KvQuantization;
import org.mha2mla.layers.generation.TovaPruning;

/** The cache policy of {@code mha2mla eval}'s options ({@code --kv-quant int4 --kv-group 64 --prune h2o --budget 0.5}). */
public final class CachePolicyArgs {

    private CachePolicyArgs() {
    }

    /**
     * @param kvQuant  null, "none", "int8", "int4" or "int2"
     * @param group    quantization group size (transformers' q_group_size)
     * @param residual full-precision residual tokens (transformers' residual_length)
     * @param prune    null, "none", "h2o" or "tova"
     * @param budget   a fraction of the prompt ("0.5") or a token count ("64"); required with {@code prune}
     * @param recent   H2O's recent-window share of the budget
     */
    public static CachePolicy parse(String kvQuant, int group, int residual, String prune, String budget, double recent) {
        Limits.requireAtLeast("--kv-group", group, 1);
        Limits.requireAtLeast("--kv-residual", residual, 0);
        Limits.requireFinite("--recent", recent, 0, 1);
        KvQuantization q = null;
        if (kvQuant != null && !kvQuant.equalsIgnoreCase("none")) {
            String k = kvQuant.toLowerCase(Locale.ROOT);
            if (!k.matches("int(2|4|8)")) {
                throw new IllegalArgumentException("--kv-quant must be int4, int2 or int8, got '" + kvQuant + "'");
            }
            q = new KvQuantization(Integer.parseInt(k.substring(3)), group, residual);
        }
        CachePruning p = null;
        if (prune != null && !prune.equalsIgnoreCase("none")) {
            if (budget == null) throw new IllegalArgumentException("--prune " + prune + " needs --budget (e.g. 0.5 or 64)");
            Budget b = Budget.parse(budget);
            p = switch (prune.toLowerCase(Locale.ROOT)) {
                case "h2o" -> new H2oPruning(b, recent);
                case "tova" -> new TovaPruning(b);
                default -> throw new IllegalArgumentException("--prune must be h2o or tova, got '" + prune + "'");
            };
        } else if (budget != null) {
            throw new IllegalArgumentException("--budget needs --prune h2o|tova");
        }
        return new CachePolicy(q, p);
    }
}
