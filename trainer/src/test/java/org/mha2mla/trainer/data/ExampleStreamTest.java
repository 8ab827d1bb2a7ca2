package org.mha2mla.trainer.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.layers.MultimodalInput;

class ExampleStreamTest {

    private static final int IMG = 3;

    @TempDir
    Path tmp;

    /** Sample sN becomes N + 2 image tokens then 4 reply tokens: long samples have their image past a cap of 8. */
    private static TrainingExample encode(InstructSample s, Path root) {
        int n = Integer.parseInt(s.id().substring(1));
        int images = n + 2;
        long[] ids = new long[images + 4];
        long[] labels = new long[ids.length];
        Arrays.fill(ids, 0, images, IMG);
        Arrays.fill(labels, -100);
        for (int i = images; i < ids.length; i++) {
            ids[i] = 10 + i;
            if (i > images) labels[i] = ids[i];
        }
        return new TrainingExample(s.id(), MultimodalInput.text(ids), labels);
    }

    @Test
    void capsCountsDropsAndResumesExactly() throws IOException {
        Path f = InstructDatasetTest.write(tmp, 10);
        ExampleStream a = new ExampleStream(InstructDataset.load(f, null, 7), ExampleStreamTest::encode, 8, IMG);
        List<String> ids = new ArrayList<>();
        for (int i = 0; i < 4; i++) ids.add(a.next().id());
        ExampleStream.State saved = a.state();
        List<String> rest = new ArrayList<>();
        for (int i = 0; i < 6; i++) rest.add(a.next().id());
        // sN has N + 6 tokens: image tokens 0..N+1, reply labels from N + 3. With a cap of 8, kept: s0, s1, s2
        // (whole), s3, s4 (truncated); dropped: s5, s6 (no reply token left) and s7..s9 (image token 8 cut).
        ExampleStream.State end = a.state();
        assertEquals(10, end.examples());
        assertEquals(end.examples() + end.droppedImageCut() + end.droppedNoSupervision(), end.position().epoch() * 10 + end.position().index());
        for (String id : rest) assertEquals(true, Integer.parseInt(id.substring(1)) <= 4, id);
        ExampleStream b = new ExampleStream(InstructDataset.load(f, null, 7), ExampleStreamTest::encode, 8, IMG);
        b.restore(saved);
        List<String> replay = new ArrayList<>();
        for (int i = 0; i < 6; i++) replay.add(b.next().id());
        assertEquals(rest, replay);
        assertEquals(end, b.state());
    }

    @Test
    void exactCountsOverOneEpoch() throws IOException {
        Path f = InstructDatasetTest.write(tmp, 10);
        InstructDataset d = InstructDataset.load(f, null, 7);
        ExampleStream s = new ExampleStream(d, ExampleStreamTest::encode, 8, IMG);
        for (int i = 0; i < 5; i++) s.next();
        // the fifth kept example is the last of s0..s4 in epoch 0's order; count what was passed over before it
        int[] order = d.order(0);
        int seenLast = 0;
        int kept = 0;
        while (kept < 5) {
            if (order[seenLast] <= 4) kept++;
            seenLast++;
        }
        long imageCut = Arrays.stream(order, 0, seenLast).filter(i -> i >= 7).count();
        long noReply = Arrays.stream(order, 0, seenLast).filter(i -> i == 5 || i == 6).count();
        ExampleStream.State st = s.state();
        assertEquals(new DataPosition(0, seenLast), st.position());
        assertEquals(imageCut, st.droppedImageCut());
        assertEquals(noReply, st.droppedNoSupervision());
        assertEquals(2, st.truncated());                      // s3 and s4
    }

    @Test
    void aDatasetWhereEverythingIsDroppedIsAnError() throws IOException {
        Path f = InstructDatasetTest.write(tmp, 3);
        ExampleStream s = new ExampleStream(InstructDataset.load(f, null, 7), ExampleStreamTest::encode, 2, IMG);
        assertThrows(IllegalStateException.class, s::next);
    }
}
