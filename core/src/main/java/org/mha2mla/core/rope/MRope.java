package org.mha2mla.core.rope;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Qwen2.5-VL multimodal RoPE (M-RoPE): 3-D position ids (temporal, height, width) and the sectioned
 * cos/sin tables of {@code apply_multimodal_rotary_pos_emb}.
 *
 * <p>Position ids port {@code Qwen2_5_VLModel.get_rope_index} of transformers: text tokens advance all
 * three axes together; the tokens of an image (one per merged 2×2 patch group) share the temporal
 * position of the image start and get start+row / start+column on the height / width axes; the next
 * text token starts at max(previous positions) + 1. {@code rope_delta = max + 1 − L} lets decode steps
 * continue with position = cache_position + rope_delta on all three axes.
 */
public final class MRope {

    /** Row of the temporal positions in a [3][L] position array. */
    public static final int TEMPORAL = 0;
    /** Row of the height positions. */
    public static final int HEIGHT = 1;
    /** Row of the width positions. */
    public static final int WIDTH = 2;

    private MRope() {
    }

    /**
     * 3-D positions of one sequence.
     *
     * @param positionIds [3][L]: temporal, height, width positions per token
     * @param ropeDelta   max(positionIds) + 1 − L (0 for text only)
     */
    public record RopeIndex(long[][] positionIds, long ropeDelta) {

        /** Sequence length L. */
        public int length() {
            return positionIds[0].length;
        }

        /** Positions of decode step tokens at cache positions start … start+n−1 (all axes equal). */
        public long[][] decodePositions(long cachePosition, int n) {
            long[][] p = new long[3][n];
            for (int a = 0; a < 3; a++) {
                for (int i = 0; i < n; i++) {
                    p[a][i] = cachePosition + i + ropeDelta;
                }
            }
            return p;
        }
    }

    /** Image-only (and text-only) form of {@link #positionIds(int[], boolean[], int[][], int[][], double[], int, int, int, int, double)}. */
    public static RopeIndex positionIds(int[] inputIds, int[][] imageGridThw, int spatialMergeSize,
                                        int imageTokenId, int visionStartTokenId) {
        return positionIds(inputIds, null, imageGridThw, null, null, spatialMergeSize,
                imageTokenId, -1, visionStartTokenId, 0);
    }

    /**
     * Port of {@code get_rope_index} for one sequence.
     *
     * @param inputIds          token ids, with the image/video placeholder already expanded (one per merged patch)
     * @param attentionMask     null, or false for padding tokens (they get position 1, as in transformers)
     * @param imageGridThw      per image (t, h, w) in patches before merging, in order of appearance; may be null
     * @param videoGridThw      per video (t, h, w); may be null
     * @param secondPerGridTs   per video seconds per temporal grid step; null means 1.0 for every video
     * @param spatialMergeSize  vision_config.spatial_merge_size (2)
     * @param videoTokenId      video_token_id (unused when videoGridThw is null)
     * @param tokensPerSecond   vision_config.tokens_per_second (2 for Qwen2.5-VL)
     */
    public static RopeIndex positionIds(int[] inputIds, boolean[] attentionMask, int[][] imageGridThw,
                                        int[][] videoGridThw, double[] secondPerGridTs, int spatialMergeSize,
                                        int imageTokenId, int videoTokenId, int visionStartTokenId,
                                        double tokensPerSecond) {
        if (spatialMergeSize <= 0) {
            throw new IllegalArgumentException("spatial_merge_size must be positive, got " + spatialMergeSize);
        }
        if (attentionMask != null && attentionMask.length != inputIds.length) {
            throw new IllegalArgumentException("attention_mask length " + attentionMask.length
                    + " != input_ids length " + inputIds.length);
        }
        int total = inputIds.length;
        long[][] out = new long[3][total];
        boolean hasGrids = (imageGridThw != null && imageGridThw.length > 0)
                || (videoGridThw != null && videoGridThw.length > 0);
        if (!hasGrids) {
            return textOnly(total, attentionMask);
        }
        // Unpadded tokens, in order.
        int[] tokens = attentionMask == null ? inputIds.clone() : filter(inputIds, attentionMask);
        int n = tokens.length;

        // transformers counts media by the token right after each <|vision_start|>.
        int imageNums = 0;
        int videoNums = 0;
        for (int i = 0; i + 1 < n; i++) {
            if (tokens[i] == visionStartTokenId) {
                if (tokens[i + 1] == imageTokenId) {
                    imageNums++;
                } else if (tokens[i + 1] == videoTokenId) {
                    videoNums++;
                }
            }
        }
        int imagesGiven = imageGridThw == null ? 0 : imageGridThw.length;
        int videosGiven = videoGridThw == null ? 0 : videoGridThw.length;
        if (imageNums > imagesGiven || videoNums > videosGiven) {
            throw new IllegalArgumentException("input_ids hold " + imageNums + " image(s) and " + videoNums
                    + " video(s) after <|vision_start|> but image_grid_thw has " + imagesGiven
                    + " and video_grid_thw " + videosGiven + " entries");
        }

        List<long[][]> parts = new ArrayList<>();
        int st = 0;
        int imageIndex = 0;
        int videoIndex = 0;
        int remainImages = imageNums;
        int remainVideos = videoNums;
        long nextStart = 0;
        for (int m = 0; m < imageNums + videoNums; m++) {
            int edImage = remainImages > 0 ? indexOf(tokens, imageTokenId, st) : n + 1;
            int edVideo = remainVideos > 0 ? indexOf(tokens, videoTokenId, st) : n + 1;
            if (edImage < 0) {
                edImage = n + 1;
            }
            if (edVideo < 0) {
                edVideo = n + 1;
            }
            int[] grid;
            double secondPerGridT;
            int ed;
            if (edImage < edVideo) {
                grid = imageGridThw[imageIndex++];
                secondPerGridT = 0; // images: every temporal position equals the start
                remainImages--;
                ed = edImage;
            } else {
                grid = videoGridThw[videoIndex];
                secondPerGridT = secondPerGridTs == null ? 1.0 : secondPerGridTs[videoIndex];
                videoIndex++;
                remainVideos--;
                ed = edVideo;
            }
            if (ed > n) {
                throw new IllegalArgumentException("media placeholder token not found after position " + st);
            }
            int gt = grid[0];
            int gh = grid[1] / spatialMergeSize;
            int gw = grid[2] / spatialMergeSize;
            int textLen = ed - st;
            long stIdx = nextStart;
            parts.add(range3(stIdx, textLen));
            long[][] vision = new long[3][gt * gh * gw];
            int idx = 0;
            long maxVision = Long.MIN_VALUE;
            for (int t = 0; t < gt; t++) {
                // time_tensor = (t * second_per_grid_t) * tokens_per_second in float32, then .long() (truncation)
                long tPos = (long) ((float) t * (float) secondPerGridT * (float) tokensPerSecond);
                for (int h = 0; h < gh; h++) {
                    for (int w = 0; w < gw; w++) {
                        vision[TEMPORAL][idx] = tPos + textLen + stIdx;
                        vision[HEIGHT][idx] = h + textLen + stIdx;
                        vision[WIDTH][idx] = w + textLen + stIdx;
                        for (int a = 0; a < 3; a++) {
                            maxVision = Math.max(maxVision, vision[a][idx]);
                        }
                        idx++;
                    }
                }
            }
            parts.add(vision);
            if (vision[0].length == 0) {
                throw new IllegalArgumentException("media grid " + Arrays.toString(grid) + " with merge size "
                        + spatialMergeSize + " yields no tokens");
            }
            // transformers: st_idx = llm_pos_ids_list[-1].max() + 1, the last part being this media block
            nextStart = maxVision + 1;
            st = ed + gt * gh * gw;
        }
        if (st < n) {
            parts.add(range3(nextStart, n - st));
        }

        long[][] positions = new long[3][n];
        int at = 0;
        long max = Long.MIN_VALUE;
        for (long[][] part : parts) {
            int len = part[0].length;
            for (int a = 0; a < 3; a++) {
                System.arraycopy(part[a], 0, positions[a], at, len);
                for (int i = 0; i < len; i++) {
                    max = Math.max(max, part[a][i]);
                }
            }
            at += len;
        }
        if (at != n) {
            throw new IllegalArgumentException("media grids cover " + at + " tokens but the sequence has " + n
                    + " (image_grid_thw / merge size inconsistent with the expanded placeholders?)");
        }
        // Padding tokens keep the initial value 1 of transformers' torch.ones(...) buffer.
        for (int a = 0; a < 3; a++) {
            Arrays.fill(out[a], 1);
        }
        int j = 0;
        for (int i = 0; i < total; i++) {
            if (attentionMask == null || attentionMask[i]) {
                for (int a = 0; a < 3; a++) {
                    out[a][i] = positions[a][j];
                }
                j++;
            }
        }
        // transformers subtracts the padded length, len(total_input_ids[i]).
        return new RopeIndex(out, max + 1 - total);
    }

    private static RopeIndex textOnly(int total, boolean[] attentionMask) {
        long[][] out = new long[3][total];
        if (attentionMask == null) {
            for (int a = 0; a < 3; a++) {
                for (int i = 0; i < total; i++) {
                    out[a][i] = i;
                }
            }
            return new RopeIndex(out, 0);
        }
        // position_ids = cumsum(mask) − 1, masked → 1; delta = max + 1 − L
        long c = 0;
        long max = Long.MIN_VALUE;
        for (int i = 0; i < total; i++) {
            long p;
            if (attentionMask[i]) {
                p = c++;
            } else {
                p = 1;
            }
            for (int a = 0; a < 3; a++) {
                out[a][i] = p;
            }
            max = Math.max(max, p);
        }
        return new RopeIndex(out, total == 0 ? 0 : max + 1 - total);
    }

    /**
     * Which position axis (TEMPORAL, HEIGHT, WIDTH) drives each of the d_h/2 frequency pairs: the first
     * mrope_section[0] pairs use t, the next [1] use h, the last [2] use w (the same for dim k + d_h/2,
     * because {@code apply_multimodal_rotary_pos_emb} splits cos by mrope_section * 2).
     */
    public static int[] pairAxis(int headDim, int[] mropeSection) {
        if (mropeSection == null || mropeSection.length != 3) {
            throw new IllegalArgumentException("mrope_section must have 3 entries (t, h, w), got "
                    + Arrays.toString(mropeSection));
        }
        int half = headDim / 2;
        int sum = mropeSection[0] + mropeSection[1] + mropeSection[2];
        if (sum != half) {
            throw new IllegalArgumentException("mrope_section " + Arrays.toString(mropeSection) + " sums to " + sum
                    + " but head_dim/2 = " + half);
        }
        int[] axis = new int[half];
        int k = 0;
        for (int a = 0; a < 3; a++) {
            for (int i = 0; i < mropeSection[a]; i++) {
                axis[k++] = a;
            }
        }
        return axis;
    }

    /**
     * M-RoPE cos/sin [L, d_h] (float32): pair k rotates by positionIds[pairAxis[k]][l]·θ_k. Equal to
     * computing the three per-axis tables and concatenating the mrope_section chunks, as transformers does.
     */
    public static CosSin cosSin(long[][] positionIds, int headDim, double base, int[] mropeSection) {
        if (positionIds.length != 3) {
            throw new IllegalArgumentException("M-RoPE position ids must have 3 rows (t, h, w), got " + positionIds.length);
        }
        int length = positionIds[0].length;
        if (positionIds[1].length != length || positionIds[2].length != length) {
            throw new IllegalArgumentException("M-RoPE position rows differ in length: " + positionIds[0].length
                    + ", " + positionIds[1].length + ", " + positionIds[2].length);
        }
        int[] axis = pairAxis(headDim, mropeSection);
        float[] inv = Rope.invFreq(headDim, base);
        int half = headDim / 2;
        float[] cos = new float[length * headDim];
        float[] sin = new float[length * headDim];
        for (int l = 0; l < length; l++) {
            for (int k = 0; k < half; k++) {
                float angle = inv[k] * (float) positionIds[axis[k]][l];
                float c = (float) Math.cos(angle);
                float s = (float) Math.sin(angle);
                cos[l * headDim + k] = c;
                cos[l * headDim + k + half] = c;
                sin[l * headDim + k] = s;
                sin[l * headDim + k + half] = s;
            }
        }
        return new CosSin(
                Nd4j.create(cos, new long[] {length, headDim}, DataType.FLOAT),
                Nd4j.create(sin, new long[] {length, headDim}, DataType.FLOAT));
    }

    private static long[][] range3(long start, int len) {
        long[][] r = new long[3][len];
        for (int a = 0; a < 3; a++) {
            for (int i = 0; i < len; i++) {
                r[a][i] = start + i;
            }
        }
        return r;
    }

    private static int indexOf(int[] tokens, int id, int from) {
        for (int i = from; i < tokens.length; i++) {
            if (tokens[i] == id) {
                return i;
            }
        }
        return -1;
    }

    private static int[] filter(int[] ids, boolean[] keep) {
        return java.util.stream.IntStream.range(0, ids.length).filter(i -> keep[i]).map(i -> ids[i]).toArray();
    }
}
