package org.mha2mla.cli.demo;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Graphics2D;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

import org.mha2mla.trainer.ChartCanvas;

/**
 * {@code accuracy_vs_kv.png}: overall accuracy against KV-cache bytes per token (log axis), one labelled point per
 * variant; MLA rows blue, cache baselines (quantized or pruned) orange, the rest grey. Java2D, as the trainer's loss
 * curve, for the same reason (one chart needs no plotting library); labels only where the JRE has fonts.
 */
final class AccuracyKvPlot {

    static final int WIDTH = 1000;
    static final int HEIGHT = 620;
    private static final int LEFT = 80;
    private static final int RIGHT = 40;
    private static final int TOP = 50;
    private static final int BOTTOM = 60;

    private AccuracyKvPlot() {
    }

    static void write(List<DemoPipeline.Evaluation> rows, double reference, Path png) {
        ChartCanvas canvas = new ChartCanvas(WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM);
        Graphics2D g = canvas.graphics();
        int w = canvas.plotWidth();
        int h = canvas.plotHeight();
        double lo = Double.MAX_VALUE;
        double hi = 0;
        for (DemoPipeline.Evaluation e : rows) {
            lo = Math.min(lo, e.kvBytesPerToken());
            hi = Math.max(hi, e.kvBytesPerToken());
        }
        double x0 = Math.log(Math.max(1, lo) / 1.5);
        double x1 = Math.log(Math.max(hi, lo + 1) * 1.5);
        boolean text = canvas.fontsAvailable();
        // Gridlines at powers of two of the byte count and every 10% of accuracy.
        g.setStroke(new BasicStroke(1f));
        for (double b = 1; b < Math.exp(x1); b *= 2) {
            if (b < Math.exp(x0)) continue;
            int x = LEFT + (int) Math.round(w * (Math.log(b) - x0) / (x1 - x0));
            g.setColor(new Color(235, 235, 235));
            g.drawLine(x, TOP, x, TOP + h);
            if (text) {
                g.setColor(Color.DARK_GRAY);
                g.drawString(String.format(Locale.ROOT, "%.0f", b), x - 12, TOP + h + 18);
            }
        }
        for (int p = 0; p <= 100; p += 10) {
            int y = TOP + h - h * p / 100;
            g.setColor(new Color(235, 235, 235));
            g.drawLine(LEFT, y, LEFT + w, y);
            if (text) {
                g.setColor(Color.DARK_GRAY);
                g.drawString(p + "%", LEFT - 40, y + 5);
            }
        }
        int xr = LEFT + (int) Math.round(w * (Math.log(reference) - x0) / (x1 - x0));
        g.setColor(Color.LIGHT_GRAY);
        g.setStroke(new BasicStroke(1f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[] {6f, 4f}, 0f));
        g.drawLine(xr, TOP, xr, TOP + h);
        g.setStroke(new BasicStroke(1.5f));
        for (DemoPipeline.Evaluation e : rows) {
            int x = LEFT + (int) Math.round(w * (Math.log(Math.max(1, e.kvBytesPerToken())) - x0) / (x1 - x0));
            int y = TOP + h - (int) Math.round(h * e.accuracy());
            boolean baseline = !e.policy().equals("full");
            boolean mla = e.variant().startsWith("mla") || e.variant().startsWith("ablation");
            g.setColor(baseline ? new Color(230, 120, 20) : mla ? new Color(30, 90, 200) : Color.DARK_GRAY);
            g.fillOval(x - 5, y - 5, 10, 10);
            if (text) g.drawString(e.variant(), x + 7, y - 6);
        }
        if (text) {
            g.setColor(Color.BLACK);
            g.drawString("Overall accuracy vs KV cache bytes per token (log scale; dashed: the original model's cache)", LEFT, TOP - 20);
            g.drawString("KV cache bytes per token", LEFT + w / 2 - 70, HEIGHT - 15);
        }
        canvas.write(png, "plot");
    }
}
