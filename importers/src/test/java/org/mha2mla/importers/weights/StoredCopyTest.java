package org.mha2mla.importers.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.mha2mla.importers.safetensors.DType;
import org.mha2mla.importers.safetensors.SafeTensorsFile;
import org.mha2mla.importers.safetensors.SafeTensorsWriter;

/** Chunked copies of a checkpoint's tensors: the same dtype gives the same bytes; another dtype the widened values. */
class StoredCopyTest {

    @Test
    void copyingInTheStoredDtypeIsBitIdenticalAndFloat32IsTheWidenedValues(@TempDir Path tmp) throws Exception {
        for (String type : new String[]{"llava", "qwen2_5_vl"}) {   // f16 and bf16 files
            Path src = CheckpointTest.fixture(type).resolve("model.safetensors");
            try (Checkpoint c = Checkpoint.open(src)) {
                DType stored = c.info(c.names().iterator().next()).dtype();
                List<SafeTensorsWriter.Entry> same = new ArrayList<>();
                List<SafeTensorsWriter.Entry> f32 = new ArrayList<>();
                for (String n : c.names()) {
                    same.add(StoredCopy.entry(c, n, stored));
                    f32.add(StoredCopy.entry(c, n, DType.F32));
                }
                Path a = tmp.resolve(type + "-same.safetensors");
                Path b = tmp.resolve(type + "-f32.safetensors");
                SafeTensorsWriter.write(a, same, Map.of("format", "pt"));
                SafeTensorsWriter.write(b, f32, Map.of("format", "pt"));
                try (SafeTensorsFile x = SafeTensorsFile.open(a); SafeTensorsFile y = SafeTensorsFile.open(b); SafeTensorsFile orig = SafeTensorsFile.open(src)) {
                    for (String n : c.names()) {
                        assertEquals(stored, x.info(n).dtype(), n);
                        byte[] want = Files.readAllBytes(src);
                        assertArrayEquals(slice(want, orig.dataStart() + orig.info(n).begin(), orig.info(n).end() - orig.info(n).begin()),
                                slice(Files.readAllBytes(a), x.dataStart() + x.info(n).begin(), x.info(n).end() - x.info(n).begin()), type + " " + n);
                        assertEquals(orig.readFloat32(n), y.readFloat32(n), type + " " + n);
                    }
                }
            }
        }
    }

    private static byte[] slice(byte[] all, long from, long length) {
        byte[] out = new byte[(int) length];
        System.arraycopy(all, (int) from, out, 0, (int) length);
        return out;
    }
}
