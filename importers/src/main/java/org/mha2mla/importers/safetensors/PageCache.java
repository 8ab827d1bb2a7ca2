package org.mha2mla.importers.safetensors;

import java.io.IOException;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Pattern;

import com.sun.jna.Library;
import com.sun.jna.Native;
import com.sun.jna.Platform;
import com.sun.jna.Pointer;

/**
 * Mapped weights in 2 MiB pages. A decode step reads every weight once per token, ≈ 14 GB for a 7B model: through
 * 4 KiB pages that is 3.7 million translations per step, and on a virtual machine each miss walks two page tables.
 * Measured on this project's 2-core VM (Linux 6.18, ext4): the bf16 matrix-vector kernel read 20–21 GB/s over 1.1 GB
 * of mapped weights but 8.5–10 GB/s over 14 GB; with the same 14 GB in 2 MiB page-cache folios, 17–28 GB/s, and
 * Qwen2.5-VL-7B decoded right after {@code init} at 1.34 instead of 0.17–0.19 tokens/s (benchmarks/scale/README.md).
 *
 * <p>The page cache chooses a file page's size when it reads it: {@code MADV_HUGEPAGE} on a mapping makes faults
 * read ahead in 2 MiB folios (Linux ≥ 5.18 on a file system with large folios, and the kernel's THP setting
 * {@code madvise} or {@code always}), which the mapping then maps whole. Pages already cached stay as they are, and
 * pages just written (a download, {@code init}, a conversion's output) were cached in small folios here. So the first time a
 * process opens a checkpoint file, {@link #refreshSmallFolios} samples a window of it: when its cached pages are not
 * mapped as 2 MiB pages, the file's clean cached pages are dropped ({@code POSIX_FADV_DONTNEED}; pages mapped
 * elsewhere stay) and the next reads bring them back in 2 MiB folios. That costs one read of the file from disk.
 *
 * <p>{@link #dropPages} takes a mapping's pages out of the process's resident memory ({@code MADV_DONTNEED}): the
 * page cache keeps them, and the next read maps them again. A long prompt's pass reads the weights once per layer
 * into float32 buffers; without it every weight it has read stays resident beside the pass's activations.
 *
 * <p>Only advice: on other systems, without JNA's native library, or when a call fails, nothing changes but the speed
 * and the resident size.
 */
final class PageCache {

    private static final long HUGE = 2L << 20;
    /** The sampled window: 32 blocks of 2 MiB. */
    static final long WINDOW = 32 * HUGE;
    private static final int MADV_DONTNEED = 4;
    private static final int MADV_HUGEPAGE = 14;
    private static final int POSIX_FADV_DONTNEED = 4;

    /** The libc calls this class makes, bound by JNA on Linux. */
    interface LibC extends Library {
        int madvise(Pointer address, long length, int advice);

        int mincore(Pointer address, long length, byte[] resident);

        int open(String path, int flags);

        int posix_fadvise(int fd, long offset, long length, int advice);

        int close(int fd);
    }

    /** libc on Linux, else null. */
    static final LibC C = bind();
    /** Whether the huge-page advice is given: libc is bound and the kernel's THP setting honours advice. */
    private static final boolean HUGE_PAGES = C != null && hugePagesOnAdvice();
    private static final Pattern MAPPING_LINE = Pattern.compile("^[0-9a-f]+-[0-9a-f]+ ");
    /** Keeps the touching reads from being optimised away. */
    private static volatile int touchedSum;
    private static final Set<Path> SAMPLED = ConcurrentHashMap.newKeySet();

    private PageCache() {
    }

    private static LibC bind() {
        if (!Platform.isLinux()) return null;
        try {
            return Native.load("c", LibC.class);
        } catch (LinkageError | RuntimeException e) {
            return null;
        }
    }

    /** Whether the kernel gives transparent huge pages to mappings that ask ({@code [always]} or {@code [madvise]}). */
    private static boolean hugePagesOnAdvice() {
        try {
            String mode = Files.readString(Path.of("/sys/kernel/mm/transparent_hugepage/enabled"));
            return mode.contains("[always]") || mode.contains("[madvise]");
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** Whether the huge-page advice is given on this system. */
    static boolean active() {
        return HUGE_PAGES;
    }

    /** Asks for 2 MiB pages on the pages of a mapping (the whole pages it lies in). */
    static void adviseHugePages(MappedByteBuffer mapping) {
        if (HUGE_PAGES) advise(mapping, MADV_HUGEPAGE);
    }

    /**
     * Unmaps the resident pages of a read-only file mapping from this process; the mapping stays valid, and a later read
     * faults them in again from the page cache (or from disk if the cache has let them go).
     */
    static void dropPages(MappedByteBuffer mapping) {
        if (C != null) advise(mapping, MADV_DONTNEED);
    }

    /** madvise over the whole pages {@code mapping} lies in (its mapping starts at the first of them). */
    private static void advise(MappedByteBuffer mapping, int advice) {
        if (mapping.capacity() == 0) return;
        try {
            long address = Pointer.nativeValue(Native.getDirectBufferPointer(mapping));
            long first = address & ~4095L;
            C.madvise(new Pointer(first), address - first + mapping.capacity(), advice);
        } catch (RuntimeException | LinkageError e) {
            // advice only: the mapping works the same without it
        }
    }

    /**
     * Once per file and process: when the cached pages of a window from the middle of {@code [dataStart, dataStart +
     * dataSize)} are not mapped as 2 MiB pages, drops the file's clean cached pages so that they are read again in
     * 2 MiB folios. Files with less data than two windows (128 MiB) are left alone.
     */
    static void refreshSmallFolios(Path path, FileChannel channel, long dataStart, long dataSize) {
        if (!HUGE_PAGES || dataSize < 2 * WINDOW || !SAMPLED.add(path.toAbsolutePath().normalize())) return;
        long from = (dataStart + dataSize / 2) & -HUGE;
        MappedByteBuffer window;
        try {
            window = channel.map(FileChannel.MapMode.READ_ONLY, from, WINDOW);
        } catch (IOException | RuntimeException e) {
            return;
        }
        boolean small;
        try {
            small = smallFoliosCached(window);
        } catch (RuntimeException | LinkageError e) {
            small = false; // advice only
        } finally {
            SafeTensorsFile.unmap(window); // pages still mapped here would not be dropped
        }
        if (small && dropCachedPages(path) != 0) {
            System.err.println("mha2mla: note: could not drop the cached pages of " + path
                    + " (posix_fadvise); decoding reads its weights through 4 KiB pages");
        }
    }

    /**
     * Whether the resident 2 MiB blocks of a mapping (from a 2 MiB-aligned file offset, a whole number of blocks) are
     * cached in small folios: touches the first byte of each resident block (a 2 MiB folio is then mapped whole) and
     * reads the mapping's {@code FilePmdMapped} from /proc/self/smaps. False when no block is resident.
     */
    static boolean smallFoliosCached(MappedByteBuffer window) {
        adviseHugePages(window);
        long address = Pointer.nativeValue(Native.getDirectBufferPointer(window));
        long length = window.capacity();
        byte[] resident = new byte[(int) (length / 4096)];
        if (C.mincore(new Pointer(address), length, resident) != 0) return false;
        int touched = 0;
        int sum = 0;
        for (int block = 0; block < length / HUGE; block++) {
            int page = (int) (block * HUGE / 4096);
            if ((resident[page] & 1) == 0) continue;
            sum += window.get((int) (block * HUGE));
            touched++;
        }
        touchedSum = sum;
        if (touched == 0) return false;
        long pmdKb = smapsField(address, "FilePmdMapped:");
        return pmdKb >= 0 && pmdKb < touched * (HUGE / 1024) / 2;
    }

    /** A kB field of the /proc/self/smaps entry of the mapping that starts at {@code address}; −1 if not found. */
    static long smapsField(long address, String field) {
        List<String> lines;
        try {
            lines = Files.readAllLines(Path.of("/proc/self/smaps"));
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        String start = Long.toHexString(address) + "-";
        boolean inside = false;
        for (String line : lines) {
            if (MAPPING_LINE.matcher(line).find()) {
                inside = line.startsWith(start);
            } else if (inside && line.startsWith(field)) {
                return Long.parseLong(line.substring(field.length()).replace("kB", "").trim());
            }
        }
        return -1;
    }

    static int dropCachedPages(Path path) {
        int fd = C.open(path.toString(), 0);
        if (fd < 0) return -1;
        try {
            return C.posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        } finally {
            C.close(fd);
        }
    }
}
