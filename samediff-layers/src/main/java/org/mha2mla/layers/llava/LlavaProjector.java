package org.mha2mla.layers.llava;

import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.layers.text.Activations;
import org.mha2mla.layers.text.BlockRunner;
import org.mha2mla.layers.text.Linear;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;
import org.nd4j.linalg.api.buffer.DataType;

/**
 * LlavaMultiModalProjector: {@code linear_2(act(linear_1(x)))}, vision width → text width, act =
 * projector_hidden_act ("gelu" = torch's exact erf GELU). Biases follow multimodal_projector_bias.
 */
public final class LlavaProjector {

    public static final String PREFIX = "multi_modal_projector.";
    /** The input placeholder [N, P, vision hidden] of {@link #block}. */
    public static final String IN = "vision_features";
    /** The output [N, P, text hidden] of {@link #block}. */
    public static final String OUT = "image_features";

    private final SameDiff sd;
    private final Linear linear1;
    private final Linear linear2;
    private final String act;

    public LlavaProjector(SameDiff sd, LlavaConfig config) {
        this.sd = sd;
        long vision = config.visionConfig().hiddenSize();
        long text = config.textConfig().hiddenSize();
        boolean bias = config.multimodalProjectorBias();
        this.linear1 = Linear.of(sd, PREFIX + "linear_1", vision, text, bias);
        this.linear2 = Linear.of(sd, PREFIX + "linear_2", text, text, bias);
        this.act = config.projectorHiddenAct();
    }

    public SDVariable forward(String name, SDVariable x) {
        SDVariable h = Activations.apply(sd, act, "projector/act", linear1.forward("projector/linear_1", x));
        return linear2.forward(name, h);
    }

    /** The projector as a graph of its own over placeholder weights, run by {@code runner}: {@link #IN} → {@link #OUT}. */
    public static BlockRunner.Block block(BlockRunner runner, LlavaConfig config) {
        BlockRunner.Block block = runner.block(PREFIX);
        SameDiff sd = block.sd();
        SDVariable in = sd.placeHolder(IN, DataType.FLOAT, -1, -1, config.visionConfig().hiddenSize());
        new LlavaProjector(sd, config).forward(OUT, in);
        return block;
    }
}
