package org.mha2mla.layers.llava;

import org.mha2mla.core.config.LlavaConfig;
import org.mha2mla.layers.text.Activations;
import org.mha2mla.layers.text.Linear;
import org.nd4j.autodiff.samediff.SDVariable;
import org.nd4j.autodiff.samediff.SameDiff;

/**
 * LlavaMultiModalProjector: {@code linear_2(act(linear_1(x)))}, vision width → text width, act =
 * projector_hidden_act ("gelu" = torch's exact erf GELU). Biases follow multimodal_projector_bias.
 */
public final class LlavaProjector {

    public static final String PREFIX = "multi_modal_projector.";

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
}
