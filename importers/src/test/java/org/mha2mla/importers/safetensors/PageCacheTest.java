package org.mha2mla.importers.safetensors;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import com.sun.jna.Native;
import com.sun.jna.Pointer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The page-cache advice against the kernel's own accounting: /proc/self/smaps and mincore. Runs where the advice is
 * given (Linux with transparent huge pages on advice); skipped elsewhere.
 */
class PageCacheTest {

    private static final int MIB = 1 << 20;

    @Test
    void smapsGivesTheResidentSizeOfAMapping(@TempDir Path dir) throws Exception {
        assumeTrue(PageCache.active(), "no page-cache advice on this system");
        Path file = write(dir.resolve("eight.bin"), 8 * MIB);
        try (FileChannel ch = FileChannel.open(file)) {
            MappedByteBuffer m = ch.map(FileChannel.MapMode.READ_ONLY, 0, 8 * MIB);
            long sum = 0;
            for (int i = 0; i < 8 * MIB; i += 4096) sum += m.get(i);
            assertEquals(byteSum(8 * MIB, 4096), sum);
            assertEquals(8 * 1024, PageCache.smapsField(address(m), "Rss:"), "every page of 8 MiB touched");
            assertEquals(-1, PageCache.smapsField(address(m) + 4096, "Rss:"), "no mapping starts one page in");
            SafeTensorsFile.unmap(m);
        }
    }

    @Test
    void droppingLeavesNoCleanPageCached(@TempDir Path dir) throws Exception {
        assumeDroppable(dir);
        Path file = write(dir.resolve("eight.bin"), 8 * MIB);
        try (FileChannel ch = FileChannel.open(file)) {
            ch.read(ByteBuffer.allocate(8 * MIB), 0);
            MappedByteBuffer m = ch.map(FileChannel.MapMode.READ_ONLY, 0, 8 * MIB);
            assertEquals(2048, residentPages(m), "a file just read is cached");
            assertEquals(0, PageCache.dropCachedPages(file));
            assertEquals(0, residentPages(m), "clean, unmapped pages are dropped");
            SafeTensorsFile.unmap(m);
        }
    }

    @Test
    void aFileCachedInSmallFoliosIsDroppedOnceWhenOpened(@TempDir Path dir) throws Exception {
        assumeDroppable(dir);
        long dataSize = 2 * PageCache.WINDOW;
        Path file = dir.resolve("big.safetensors");
        byte[] header = ("{\"w\":{\"dtype\":\"BF16\",\"shape\":[" + dataSize / 2 + "],\"data_offsets\":[0," + dataSize + "]}}")
                .getBytes(java.nio.charset.StandardCharsets.UTF_8);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
            ch.write(len);
            ch.write(ByteBuffer.wrap(header));
            ByteBuffer block = ByteBuffer.allocate(MIB);
            for (long written = 0; written < dataSize; written += MIB) {
                block.clear();
                ch.write(block);
            }
            ch.force(true);
        }
        long dataStart = 8 + header.length;
        long from = (dataStart + dataSize / 2) & -(2L * MIB);
        try (FileChannel ch = FileChannel.open(file)) {
            MappedByteBuffer window = ch.map(FileChannel.MapMode.READ_ONLY, from, PageCache.WINDOW);
            int cached = residentPages(window);
            assumeTrue(cached == PageCache.WINDOW / 4096, "the written pages are not all cached");
            assumeTrue(PageCache.smallFoliosCached(window), "this kernel caches written pages in 2 MiB folios");
            SafeTensorsFile.unmap(window);
        }
        try (SafeTensorsFile f = SafeTensorsFile.open(file); FileChannel ch = FileChannel.open(file)) {
            MappedByteBuffer window = ch.map(FileChannel.MapMode.READ_ONLY, from, PageCache.WINDOW);
            assertEquals(0, residentPages(window), "opening dropped the small folios");
            float[] middle = {1f, 1f, 1f, 1f};
            try (var w = f.stored("w")) {
                w.elementsInto((from - dataStart) / 2, middle.length, middle, 0);
            }
            assertEquals(0f, middle[0] + middle[1] + middle[2] + middle[3], "the values read back after the drop");
            assertTrue(residentPages(window) > 0, "reading brings pages back");
            SafeTensorsFile.unmap(window);
        }
        try (SafeTensorsFile again = SafeTensorsFile.open(file); FileChannel ch = FileChannel.open(file)) {
            MappedByteBuffer window = ch.map(FileChannel.MapMode.READ_ONLY, from, PageCache.WINDOW);
            assertTrue(residentPages(window) > 0, "a file is sampled once per process, so the second open drops nothing");
            SafeTensorsFile.unmap(window);
        }
    }

    @Test
    void droppedPagesLeaveTheResidentSetAndReadBackTheSameValues(@TempDir Path dir) throws Exception {
        assumeTrue(PageCache.C != null, "no libc binding on this system");
        int n = 2 * MIB; // 8 MiB of float32
        Path file = dir.resolve("w.safetensors");
        byte[] header = ("{\"w\":{\"dtype\":\"F32\",\"shape\":[" + n + "],\"data_offsets\":[0," + 4L * n + "]}}")
                .getBytes(java.nio.charset.StandardCharsets.UTF_8);
        ByteBuffer data = ByteBuffer.allocate(8 + header.length + 4 * n).order(ByteOrder.LITTLE_ENDIAN);
        data.putLong(header.length).put(header);
        for (int i = 0; i < n; i++) data.putFloat(i * 0.5f);
        Files.write(file, data.array());
        try (SafeTensorsFile f = SafeTensorsFile.open(file); var w = f.stored("w")) {
            long mapping = address(w.chunk(0)) & ~4095L;
            float[] first = new float[n];
            w.elementsInto(0, n, first, 0);
            assertTrue(PageCache.smapsField(mapping, "Rss:") >= 8 * 1024, "every page read is resident");
            w.dropPages();
            assertEquals(0, PageCache.smapsField(mapping, "Rss:"), "no page of the mapping is resident after the drop");
            float[] again = new float[n];
            w.elementsInto(0, n, again, 0);
            for (int i = 0; i < n; i += 4099) assertEquals(i * 0.5f, again[i], "element " + i);
            assertTrue(java.util.Arrays.equals(first, again), "the values read back after the drop");
            assertTrue(PageCache.smapsField(mapping, "Rss:") >= 8 * 1024, "reading maps the pages again");
        }
    }

    /** Skips where nothing is advised, or where the files live in memory (tmpfs keeps its pages whatever the advice). */
    private static void assumeDroppable(Path dir) throws Exception {
        assumeTrue(PageCache.active(), "no page-cache advice on this system");
        assumeTrue(!"tmpfs".equals(Files.getFileStore(dir).type()), "the temporary folder is on tmpfs");
    }

    /** Writes {@code bytes} bytes of value i mod 251 and flushes them, so that the cached pages are clean. */
    private static Path write(Path file, int bytes) throws Exception {
        byte[] data = new byte[bytes];
        for (int i = 0; i < bytes; i++) data[i] = (byte) (i % 251);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(data));
            ch.force(true);
        }
        return file;
    }

    /** Σ of the bytes at every {@code stride}-th offset of a {@link #write} file. */
    private static long byteSum(int bytes, int stride) {
        long s = 0;
        for (int i = 0; i < bytes; i += stride) s += (byte) (i % 251);
        return s;
    }

    private static long address(ByteBuffer b) {
        return Pointer.nativeValue(Native.getDirectBufferPointer(b));
    }

    /** Pages of the mapping that are in the page cache (mincore). */
    private static int residentPages(MappedByteBuffer m) {
        byte[] vec = new byte[(m.capacity() + 4095) / 4096];
        assertEquals(0, PageCache.C.mincore(new Pointer(address(m)), m.capacity(), vec));
        int n = 0;
        for (byte b : vec) n += b & 1;
        return n;
    }
}
