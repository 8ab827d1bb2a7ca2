package org.mha2mla.layers.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;

import org.junit.jupiter.api.Test;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

class HeadsTest {

    @Test
    void splitPutsHeadOfFeatureBlocksFirstAndMergeInvertsIt() {
        INDArray x = Nd4j.rand(DataType.FLOAT, 2, 5, 12); // B=2, L=5, 3 heads × 4
        SameDiff sd = SameDiff.create();
        SDVariable in = sd.placeHolder("x", DataType.FLOAT, -1, -1, 12);
        SDVariable split = Heads.split(sd, "split", in, 3, 4);
        Heads.merge(sd, "merge", split, 3, 4);
        Map<String, INDArray> out = sd.output(Map.of("x", x), "split", "merge");
        INDArray s = out.get("split");
        assertArrayEquals(new long[]{2, 3, 5, 4}, s.shape());
        // head h, position t, dim j = feature h·4 + j of token t (torch view(B, L, n, d).transpose(1, 2))
        assertEquals(x.getFloat(1, 4, 2 * 4 + 3), s.getFloat(1, 2, 4, 3));
        assertEquals(0.0, out.get("merge").sub(x).amaxNumber().doubleValue());
    }

    /** Reference: repeat_kv then per-head softmax(q·kᵀ/√d + mask)·v, in plain ND4J loops over heads. */
    private static INDArray[] repeatThenAttend(INDArray q, INDArray k, INDArray v, INDArray mask, int groups) {
        long b = q.size(0), h = q.size(1), l = q.size(2), d = q.size(3);
        INDArray out = Nd4j.create(DataType.FLOAT, b, h, l, v.size(3));
        INDArray allProbs = Nd4j.create(DataType.FLOAT, b, h, l, k.size(2));
        for (int n = 0; n < b; n++) {
            for (int head = 0; head < h; head++) {
                INDArray scores = q.slice(n).slice(head).mmul(k.slice(n).slice(head / groups).transpose()).muli(1.0 / Math.sqrt(d))
                        .addi(mask.slice(n).slice(0));
                INDArray probs = org.nd4j.linalg.ops.transforms.Transforms.softmax(scores, true);
                out.slice(n).slice(head).assign(probs.mmul(v.slice(n).slice(head / groups)));
                allProbs.slice(n).slice(head).assign(probs);
            }
        }
        return new INDArray[]{out, allProbs};
    }

    @Test
    void groupedAttentionEqualsRepeatKvThenAttention() {
        int nKv = 2, groups = 3, d = 4, dV = 5;
        INDArray q = Nd4j.rand(DataType.FLOAT, 2, nKv * groups, 3, d);   // B=2, L=3 queries
        INDArray k = Nd4j.rand(DataType.FLOAT, 2, nKv, 7, d);            // T=7 keys
        INDArray v = Nd4j.rand(DataType.FLOAT, 2, nKv, 7, dV);
        INDArray mask = AttentionMask.causal(new long[][]{{1, 1, 1, 1, 1, 1, 1}, {0, 1, 1, 1, 1, 1, 1}}, 3);
        for (int g : new int[]{groups, 1}) {
            int kvHeads = nKv * groups / g;
            INDArray kk = g == 1 ? Nd4j.rand(DataType.FLOAT, 2, kvHeads, 7, d) : k;
            INDArray vv = g == 1 ? Nd4j.rand(DataType.FLOAT, 2, kvHeads, 7, dV) : v;
            SameDiff sd = SameDiff.create();
            Heads.Attention out = Heads.groupedAttention(sd, "attn", sd.placeHolder("q", DataType.FLOAT, -1, kvHeads * g, -1, d),
                    sd.placeHolder("k", DataType.FLOAT, -1, kvHeads, -1, d), sd.placeHolder("v", DataType.FLOAT, -1, kvHeads, -1, dV),
                    sd.placeHolder("mask", DataType.FLOAT, -1, 1, -1, -1), kvHeads, g, d, dV);
            Map<String, INDArray> got = sd.output(Map.of("q", q, "k", kk, "v", vv, "mask", mask), out.output().name(), out.probs().name());
            INDArray[] expected = repeatThenAttend(q, kk, vv, mask, g);
            for (int i = 0; i < 2; i++) {
                INDArray actual = got.get(i == 0 ? out.output().name() : out.probs().name());
                assertArrayEquals(expected[i].shape(), actual.shape());
                assertTrue(actual.sub(expected[i]).amaxNumber().doubleValue() < 1e-6, "groups " + g + (i == 0 ? " output" : " probs"));
            }
        }
    }
}
