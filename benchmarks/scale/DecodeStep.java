import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import org.mha2mla.layers.MultimodalInput;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.VlmLoader;
import org.mha2mla.layers.decode.StepProfile;
import org.mha2mla.layers.generation.CachePolicy;
import org.mha2mla.layers.generation.Generator;

/**
 * The decode step of a model folder alone, without the vision tower and a long prefill: a 16-token text prompt, one
 * warm-up step (the first reads every weight once), then the timed steps with the step profile on, in each of
 * {@code ROUNDS} generations of one process. Also says how much of the mapped weights the kernel maps in 2 MiB pages
 * (/proc/self/smaps' FilePmdMapped against the file pages mapped): a decode step reads every weight per token, and in
 * 4 KiB pages it ran at a fraction of the speed (README). Usage: DecodeStep MODEL_DIR [STEPS [ROUNDS]]
 */
public final class DecodeStep {
    public static void main(String[] args) throws IOException {
        int steps = args.length > 1 ? Integer.parseInt(args[1]) : 6;
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 2;
        try (VisionLanguageModel m = VlmLoader.load(Path.of(args[0]))) {
            long[] ids = new long[16];
            ids[0] = 1;
            for (int i = 1; i < ids.length; i++) ids[i] = 300 + 37L * i;
            MultimodalInput in = MultimodalInput.text(ids);
            StepProfile profile = new StepProfile();
            m.decodeStep().profile(profile);
            for (int round = 1; round <= rounds; round++) {
                Generator.Session s = m.generator(in, CachePolicy.FULL).start(m.decoderInput(in), ids.length + steps + 1);
                s.step(500);
                profile.clear();
                long t0 = System.nanoTime();
                for (int i = 0; i < steps; i++) s.step(600 + i);
                double seconds = (System.nanoTime() - t0) / 1e9;
                System.out.printf("round %d: %d steps in %.2f s, %.3f tokens/s; %s%n", round, steps, seconds, steps / seconds, pageSizes());
                System.out.print(profile.table(steps));
            }
        }
    }

    /** The file pages this process maps, and how many of them in 2 MiB pages (Linux; empty elsewhere). */
    private static String pageSizes() throws IOException {
        Path smaps = Path.of("/proc/self/smaps");
        if (!Files.isReadable(smaps)) return "";
        long rssKb = 0, pmdKb = 0;
        boolean file = false;
        List<String> lines = Files.readAllLines(smaps);
        for (String line : lines) {
            if (line.matches("^[0-9a-f]+-[0-9a-f]+ .*")) {
                file = line.contains(".safetensors");
            } else if (file && line.startsWith("Rss:")) {
                rssKb += kb(line);
            } else if (file && line.startsWith("FilePmdMapped:")) {
                pmdKb += kb(line);
            }
        }
        return String.format("weights mapped %.1f GB, of which in 2 MiB pages %.1f GB", rssKb / 1048576.0, pmdKb / 1048576.0);
    }

    private static long kb(String line) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
    }
}
