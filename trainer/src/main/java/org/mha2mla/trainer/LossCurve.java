package org.mha2mla.trainer;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.geom.Path2D;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * The loss-curve PNG: loss per step (raw, and a centered moving average once there are enough points) on
 * the left axis, the learning rate dashed on the right axis.
 *
 * <p>Plain Java2D + ImageIO rather than XChart: one line chart needs no plotting library, the JDK has both in
 * headless mode, and the trainer (and the CLI's lib/) stays free of a dependency and its transitive ones. Text
 * is drawn only where fonts are available (a JRE without fontconfig throws on the first glyph); the curves are
 * drawn regardless.
 */
final class LossCurve {

    static final int WIDTH = 900;
    static final int HEIGHT = 540;
    private static final int LEFT = 80;
    private static final int RIGHT = 90;
    private static final int TOP = 50;
    private static final int BOTTOM = 60;

    private LossCurve() {
    }

    static void write(List<LossLog.Row> rows, Path png, String title) {
        ChartCanvas canvas = new ChartCanvas(WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM);
        Graphics2D g = canvas.graphics();
        int w = canvas.plotWidth();
        int h = canvas.plotHeight();
        if (!rows.isEmpty()) {
            long x0 = rows.get(0).step();
            long x1 = Math.max(x0 + 1, rows.get(rows.size() - 1).step());
            double lossMin = Double.MAX_VALUE;
            double lossMax = -Double.MAX_VALUE;
            double lrMax = 0;
            for (LossLog.Row r : rows) {
                if (Double.isFinite(r.loss())) {
                    lossMin = Math.min(lossMin, r.loss());
                    lossMax = Math.max(lossMax, r.loss());
                }
                lrMax = Math.max(lrMax, r.lr());
            }
            if (lossMin > lossMax) {
                lossMin = 0;
                lossMax = 1;
            }
            double pad = Math.max(1e-6, (lossMax - lossMin) * 0.05);
            Axis ax = new Axis(x0, x1, lossMin - pad, lossMax + pad, lrMax > 0 ? lrMax * 1.05 : 1, w, h);
            grid(g, ax, w, h);
            g.setStroke(new BasicStroke(1f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_BEVEL, 1f, new float[]{6f, 4f}, 0f));
            g.setColor(new Color(230, 140, 40));
            g.draw(line(rows, ax, true));
            boolean smooth = rows.size() >= 20;
            g.setStroke(new BasicStroke(smooth ? 1f : 2f));
            g.setColor(smooth ? new Color(150, 180, 230) : new Color(30, 90, 200));
            g.draw(line(rows, ax, false));
            if (smooth) {
                g.setStroke(new BasicStroke(2f));
                g.setColor(new Color(30, 90, 200));
                g.draw(movingAverage(rows, ax, Math.max(2, rows.size() / 40)));
            }
            labels(g, ax, title, rows.get(rows.size() - 1), w, h);
        }
        canvas.write(png, "loss curve");
    }

    private record Axis(long x0, long x1, double y0, double y1, double lrMax, int w, int h) {
        double x(long step) {
            return LEFT + (double) (step - x0) / (x1 - x0) * w;
        }

        double y(double loss) {
            return TOP + (1 - (loss - y0) / (y1 - y0)) * h;
        }

        double yLr(double lr) {
            return TOP + (1 - lr / lrMax) * h;
        }
    }

    private static Path2D line(List<LossLog.Row> rows, Axis ax, boolean lr) {
        Path2D.Double p = new Path2D.Double();
        boolean first = true;
        for (LossLog.Row r : rows) {
            double v = lr ? r.lr() : r.loss();
            if (!Double.isFinite(v)) continue;
            double y = lr ? ax.yLr(v) : ax.y(v);
            if (first) p.moveTo(ax.x(r.step()), y);
            else p.lineTo(ax.x(r.step()), y);
            first = false;
        }
        return p;
    }

    /** Centered moving average over {@code half} rows on each side (fewer at the ends): smooths without lag. */
    private static Path2D movingAverage(List<LossLog.Row> rows, Axis ax, int half) {
        Path2D.Double p = new Path2D.Double();
        for (int i = 0; i < rows.size(); i++) {
            double sum = 0;
            int n = 0;
            for (int j = Math.max(0, i - half); j <= Math.min(rows.size() - 1, i + half); j++) {
                if (Double.isFinite(rows.get(j).loss())) {
                    sum += rows.get(j).loss();
                    n++;
                }
            }
            if (n == 0) continue;
            double y = ax.y(sum / n);
            if (p.getCurrentPoint() == null) p.moveTo(ax.x(rows.get(i).step()), y);
            else p.lineTo(ax.x(rows.get(i).step()), y);
        }
        return p;
    }

    private static void grid(Graphics2D g, Axis ax, int w, int h) {
        g.setColor(new Color(235, 235, 235));
        for (int i = 1; i < 5; i++) {
            int y = TOP + h * i / 5;
            g.drawLine(LEFT + 1, y, LEFT + w - 1, y);
            int x = LEFT + w * i / 5;
            g.drawLine(x, TOP + 1, x, TOP + h - 1);
        }
    }

    private static void labels(Graphics2D g, Axis ax, String title, LossLog.Row last, int w, int h) {
        try {
            g.setColor(Color.DARK_GRAY);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
            FontMetrics fm = g.getFontMetrics();
            for (int i = 0; i <= 5; i++) {
                double loss = ax.y1() - (ax.y1() - ax.y0()) * i / 5;
                String s = String.format(Locale.ROOT, "%.3f", loss);
                g.drawString(s, LEFT - 8 - fm.stringWidth(s), TOP + h * i / 5 + 4);
                String lr = String.format(Locale.ROOT, "%.1e", ax.lrMax() * (5 - i) / 5);
                g.drawString(lr, LEFT + w + 8, TOP + h * i / 5 + 4);
                long step = ax.x0() + Math.round((ax.x1() - ax.x0()) * i / 5.0);
                String st = Long.toString(step);
                g.drawString(st, LEFT + w * i / 5 - fm.stringWidth(st) / 2, TOP + h + 18);
            }
            g.drawString("step", LEFT + w / 2 - fm.stringWidth("step") / 2, TOP + h + 40);
            g.setColor(new Color(30, 90, 200));
            g.drawString("loss", 14, TOP - 10);
            g.setColor(new Color(230, 140, 40));
            g.drawString("lr (dashed)", LEFT + w + 8, TOP - 10);
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
            String t = title + String.format(Locale.ROOT, "  (step %d, loss %.4f)", last.step(), last.loss());
            g.drawString(t, LEFT, 28);
        } catch (RuntimeException | LinkageError | InternalError noFonts) {
            // Headless JRE without fonts: keep the curves, skip the text.
        }
    }
}
