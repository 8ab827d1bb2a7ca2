package org.mha2mla.layers.decode;

import java.util.Arrays;
import java.util.Random;

import org.mha2mla.core.config.TextConfig;
import org.mha2mla.layers.VisionLanguageModel;
import org.mha2mla.layers.text.AttentionMask;
import org.mha2mla.layers.text.DecoderInput;
import org.mha2mla.layers.text.RopeTables;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Decoding through the static cache against the whole-model graph's full pass over the same tokens: a batch of
 * sequences with random tokens (embedding rows of random ids) and random modalities, a prompt of {@code prompt}
 * tokens prefilled layer by layer, then {@code steps} single-token decode steps; every step's logits against the full
 * pass's logits at that position. Optionally sequence 1 is left-padded by one token (masked in both).
 */
final class FullPassCheck {

    /** Max |step − full| and max |full| over the prefill's last position and every step. */
    record Result(double maxAbs, double maxExpected) {
        double relative() {
            return maxAbs / maxExpected;
        }
    }

    private FullPassCheck() {
    }

    static Result run(VisionLanguageModel model, int batch, int prompt, int steps, long seed, boolean padSecond) {
        return run(model, model.decodeStep(), batch, prompt, steps, seed, padSecond);
    }

    /** As {@link #run(VisionLanguageModel, int, int, int, long, boolean)} through {@code step} (over the model's weights). */
    static Result run(VisionLanguageModel model, DecodeStep step, int batch, int prompt, int steps, long seed, boolean padSecond) {
        TextConfig t = model.config().textConfig();
        int total = prompt + steps;
        Random rng = new Random(seed);
        INDArray[] rows = new INDArray[batch];
        float[] mod = new float[batch * total];
        for (int b = 0; b < batch; b++) {
            long[] ids = new long[total];
            for (int i = 0; i < total; i++) ids[i] = rng.nextInt(t.vocabSize());
            rows[b] = model.decoder().embed(ids);
            for (int i = 0; i < total; i++) mod[b * total + i] = rng.nextBoolean() ? DecoderInput.VISUAL : DecoderInput.TEXT;
        }
        INDArray embeds = Nd4j.concat(0, rows);
        INDArray modality = Nd4j.create(mod, new long[]{batch, total}, 'c');
        long[][] keep = new long[batch][total];
        for (long[] k : keep) Arrays.fill(k, 1);
        if (padSecond) keep[1][0] = 0;
        INDArray full = model.graph().logits(new DecoderInput(embeds, RopeTables.forRange(t, 0, total), AttentionMask.causal(keep, total), modality));

        StaticCache cache = step.newCache(batch, total, StaticCache.float32());
        long[][] promptKeep = new long[batch][];
        for (int b = 0; b < batch; b++) promptKeep[b] = Arrays.copyOf(keep[b], prompt);
        DecoderInput prefix = new DecoderInput(slice(embeds, 0, prompt), RopeTables.forRange(t, 0, prompt),
                AttentionMask.causal(promptKeep, prompt), modality.get(NDArrayIndex.all(), NDArrayIndex.interval(0, prompt)).dup('c'));
        INDArray normed = step.prefill(prefix, cache, null);
        if (padSecond) cache.padding(1, 1);
        float[] last = normed.get(NDArrayIndex.all(), NDArrayIndex.point(prompt - 1), NDArrayIndex.all()).dup('c').reshape(-1).toFloatVector();
        double worst = compare(model.decoder().logitsOf(last, batch), full, prompt - 1, batch);
        for (int s = 0; s < steps; s++) {
            int p = prompt + s;
            float[] h = slice(embeds, p, p + 1).reshape(-1).toFloatVector();
            float[] m = modality.get(NDArrayIndex.all(), NDArrayIndex.point(p)).dup().toFloatVector();
            float[] logits = step.logits(h, batch, StepRope.of(RopeTables.forRange(t, p, 1)), m, cache, null);
            worst = Math.max(worst, compare(logits, full, p, batch));
            if (cache.length() != p + 1 || cache.position() != p + 1) throw new AssertionError("the cache holds " + cache.length() + " tokens");
        }
        return new Result(worst, full.amaxNumber().doubleValue());
    }

    /** Max |logits[b] − full[b, position]| over the batch. */
    private static double compare(float[] logits, INDArray full, int position, int batch) {
        int vocab = (int) full.size(2);
        INDArray expected = full.get(NDArrayIndex.all(), NDArrayIndex.point(position), NDArrayIndex.all());
        INDArray actual = Nd4j.create(logits, new long[]{batch, vocab}, 'c');
        return actual.sub(expected.reshape(batch, vocab)).amaxNumber().doubleValue();
    }

    private static INDArray slice(INDArray x, int from, int to) {
        return x.get(NDArrayIndex.all(), NDArrayIndex.interval(from, to), NDArrayIndex.all()).dup('c');
    }
}
