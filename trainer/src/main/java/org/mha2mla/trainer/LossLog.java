package org.mha2mla.trainer;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Locale;

/**
 * The per-step training log: {@code loss.csv} (step, loss, lr, grad_norm, tokens, tokens_per_s, elapsed_s), one
 * row per optimizer update, flushed as written so a killed run keeps its log. A resumed run reopens the file and
 * drops the rows after the checkpoint's step, so the log of an interrupted-and-resumed run equals that of an
 * uninterrupted one (up to timings).
 */
public final class LossLog implements AutoCloseable {

    public static final String HEADER = "step,loss,lr,grad_norm,tokens,tokens_per_s,elapsed_s";

    /**
     * @param step            1-based index of the update this row logs
     * @param loss            token-mean cross-entropy over the step's supervised tokens
     * @param tokens          input tokens (all positions, image tokens included) of the step
     * @param tokensPerSecond tokens / wall time of the step
     * @param elapsedSeconds  training time since the start of the run (across resumes)
     */
    public record Row(long step, double loss, double lr, double gradNorm, long tokens, double tokensPerSecond,
                      double elapsedSeconds) {

        String csv() {
            return String.format(Locale.ROOT, "%d,%.8f,%.6e,%.6e,%d,%.2f,%.3f", step, loss, lr, gradNorm, tokens,
                    tokensPerSecond, elapsedSeconds);
        }

        static Row parse(String line) {
            String[] f = line.split(",");
            if (f.length != 7) throw new IllegalArgumentException("loss log row must have 7 fields: " + line);
            return new Row(Long.parseLong(f[0]), Double.parseDouble(f[1]), Double.parseDouble(f[2]), Double.parseDouble(f[3]),
                    Long.parseLong(f[4]), Double.parseDouble(f[5]), Double.parseDouble(f[6]));
        }
    }

    private final Path csv;
    private final List<Row> rows = new ArrayList<>();
    private final BufferedWriter out;

    private LossLog(Path csv, List<Row> kept) throws IOException {
        this.csv = csv;
        this.rows.addAll(kept);
        List<String> lines = new ArrayList<>();
        lines.add(HEADER);
        for (Row r : kept) lines.add(r.csv());
        Files.createDirectories(csv.toAbsolutePath().getParent());
        Files.write(csv, lines, StandardCharsets.UTF_8);
        this.out = Files.newBufferedWriter(csv, StandardCharsets.UTF_8, StandardOpenOption.APPEND);
    }

    /** A new log, or an existing one with the rows after {@code resumeStep} removed (0: start afresh). */
    public static LossLog open(Path csv, long resumeStep) {
        try {
            List<Row> kept = new ArrayList<>();
            if (resumeStep > 0 && Files.isRegularFile(csv)) {
                List<String> lines = Files.readAllLines(csv, StandardCharsets.UTF_8);
                for (String line : lines.subList(Math.min(1, lines.size()), lines.size())) {
                    if (line.isBlank()) continue;
                    Row r = Row.parse(line);
                    if (r.step() <= resumeStep) kept.add(r);
                }
            }
            return new LossLog(csv, kept);
        } catch (IOException e) {
            throw new UncheckedIOException(csv + ": cannot open the loss log", e);
        }
    }

    public void append(Row row) {
        try {
            out.write(row.csv());
            out.newLine();
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(csv + ": cannot append to the loss log", e);
        }
        rows.add(row);
    }

    public List<Row> rows() {
        return Collections.unmodifiableList(rows);
    }

    public Path file() {
        return csv;
    }

    /** Draws the loss curve (and the LR) of the rows so far into {@code png}. */
    public void writeCurve(Path png, String title) {
        LossCurve.write(rows, png, title);
    }

    @Override
    public void close() {
        try {
            out.close();
        } catch (IOException e) {
            throw new UncheckedIOException(csv + ": cannot close the loss log", e);
        }
    }
}
