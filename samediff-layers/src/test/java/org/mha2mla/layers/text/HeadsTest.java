package org.mha2mla.layers.text;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

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

    @Test
    void repeatKvGivesQueryHeadTheKvHeadOfItsGroup() {
        INDArray kv = Nd4j.rand(DataType.FLOAT, 2, 2, 3, 4); // n_kv = 2
        SameDiff sd = SameDiff.create();
        Heads.repeatKv(sd, "rep", sd.placeHolder("kv", DataType.FLOAT, -1, 2, -1, 4), 2, 4);
        INDArray rep = sd.output(Map.of("kv", kv), "rep").get("rep");
        assertArrayEquals(new long[]{2, 8, 3, 4}, rep.shape());
        for (int h = 0; h < 8; h++) {
            assertEquals(kv.slice(1).slice(h / 4), rep.slice(1).slice(h));
        }
    }
}
