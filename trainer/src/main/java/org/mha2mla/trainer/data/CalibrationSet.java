package org.mha2mla.trainer.data;

import java.util.List;

import org.mha2mla.layers.MultimodalInput;

/** Where the MHA2MLA conversion's calibration samples come from: processed prompts, as the model takes them. */
@FunctionalInterface
public interface CalibrationSet {

    /** Up to {@code maxSamples} samples (all when fewer), in a reproducible order. */
    List<MultimodalInput> load(int maxSamples);
}
