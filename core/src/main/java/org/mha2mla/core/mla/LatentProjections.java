package org.mha2mla.core.mla;

import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The latent projections of one modality of one layer (HF Linear layout [out, in]): c_kv = x·W_downᵀ,
 * k_nope = c_kv·W_up,kᵀ, v = c_kv·W_up,vᵀ.
 *
 * @param kvDown W_dkv[m], [n_kv·d_kv, d]
 * @param kUp    W_uk[m], [n_kv·(d_h − d_r), n_kv·d_kv], rows grouped per KV head; null when d_r = d_h (no NoPE dims)
 * @param vUp    W_uv[m], [n_kv·d_h, n_kv·d_kv], rows grouped per KV head
 */
public record LatentProjections(INDArray kvDown, INDArray kUp, INDArray vUp) {

    public LatentProjections {
        long rank = kvDown.rows();
        if (kvDown.rank() != 2 || vUp.rank() != 2 || vUp.columns() != rank || (kUp != null && (kUp.rank() != 2 || kUp.columns() != rank))) {
            throw new IllegalArgumentException("latent projections disagree on the rank: kv_down " + java.util.Arrays.toString(kvDown.shape())
                    + ", k_up " + (kUp == null ? "none" : java.util.Arrays.toString(kUp.shape())) + ", v_up "
                    + java.util.Arrays.toString(vUp.shape()));
        }
    }

    /** Latent size n_kv·d_kv. */
    public int rank() {
        return (int) kvDown.rows();
    }
}
